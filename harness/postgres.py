"""A private PostgreSQL cluster: Debian's binaries, a temporary folder, loopback only.

As root the cluster runs as the ``postgres`` user (initdb refuses root). fsync is off: the
cluster is thrown away with its folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from itertools import count
from pathlib import Path

import psycopg

from harness.processes import HOST, free_port, stop_process, wait_until

SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")
_names = count(1)


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` (or where ``initdb`` is on the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def as_owner(argv: list[str]) -> list[str]:
    """``argv`` run as the ``postgres`` user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


class Cluster:
    """``initdb`` + ``postgres`` on a free 127.0.0.1 port, removed on ``stop()``.

    ``halt()`` and ``resume()`` stop the server and start it again on the same data and port.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="rr-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def start(self) -> Cluster:
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres"]
        initdb += ["-A", "trust", "--no-sync", "-E", "UTF8"]
        subprocess.run(as_owner(initdb), check=True, capture_output=True)
        self.resume()
        return self

    def resume(self) -> None:
        """Start ``postgres`` on the data folder (after ``start()``'s initdb or a ``halt()``)."""
        argv = [str(self.bindir / "postgres"), "-D", str(self.data), "-h", HOST]
        argv += ["-p", str(self.port), "-k", str(self.root)]
        for setting in SETTINGS:
            argv += ["-c", setting]
        with (self.root / "postgres.log").open("ab") as log:
            self.proc = subprocess.Popen(as_owner(argv), stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._accepts, timeout=30, what=f"PostgreSQL on port {self.port}")

    def halt(self) -> None:
        """``pg_ctl stop -m fast``: sessions are cut, committed work is checkpointed."""
        pg_ctl = [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"]
        subprocess.run(as_owner(pg_ctl), check=True, capture_output=True, timeout=60)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.admin_dsn, connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"rr_test_{next(_names)}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/{name}"

    def stop(self) -> None:
        stop_process(self.proc, timeout=20)
        shutil.rmtree(self.root, ignore_errors=True)
