"""A private PostgreSQL cluster for the tests: Debian's binaries, a temp folder, loopback.

As root the cluster runs as the ``postgres`` user (initdb refuses root). Each test gets a
fresh database in it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import psycopg

from tests.services import REQUIRED, free_port, wait_until

_names = count(1)


def find_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


class Cluster:
    """``initdb`` + ``postgres`` on a free 127.0.0.1 port, removed on ``stop()``."""

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
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> Cluster:
        subprocess.run(
            _as_owner(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        log = (self.root / "postgres.log").open("ab")
        self.proc = subprocess.Popen(
            _as_owner(
                [
                    str(self.bindir / "postgres"),
                    "-D",
                    str(self.data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._accepts, timeout=30, what=f"PostgreSQL on port {self.port}")
        return self

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
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def cluster_or_reason() -> Iterator[Cluster | str]:
    """Yield a running cluster, or the reason there is none (a failure under CI)."""
    bindir = find_bindir()
    if bindir is None:
        yield "PostgreSQL binaries not found: install Debian's postgresql (make test does)"
        return
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        yield "running as root without runuser: cannot start PostgreSQL as 'postgres'"
        return
    cluster = Cluster(bindir).start()
    try:
        yield cluster
    finally:
        cluster.stop()


__all__ = ["REQUIRED", "Cluster", "cluster_or_reason"]
