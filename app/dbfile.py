"""The SQLite file a running server writes to, and whether it is still the same file.

SQLite keeps its connections on the file's inode: delete the file under a running server and
every write still succeeds, into an unlinked inode that disappears with the process. So the
file's identity (device and inode) is taken when the first connection opens it, and
``problem()`` (a ``stat``, about a microsecond) says when the path is gone or is now another
file. Readiness and the webhook ask it, so alerts are never acknowledged into nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event


class DatabaseFile:
    """Watches the SQLite file of an engine; for any other database it never has a problem."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None

    @classmethod
    def watch(cls, engine: Engine) -> DatabaseFile:
        """Remember the file's identity when ``engine`` first connects."""
        name = engine.url.database if engine.dialect.name == "sqlite" else None
        if not name or name == ":memory:" or name.startswith("file:"):
            return cls(None)
        watcher = cls(Path(name).absolute())
        event.listen(engine, "connect", watcher._connected)
        return watcher

    def _connected(self, _dbapi_conn: Any, _record: Any) -> None:
        if self._identity is None:
            self._identity = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def problem(self) -> str | None:
        """Why the server's writes no longer reach the file at ``path``, or None."""
        if self.path is None or self._identity is None:
            return None
        now = self._stat()
        if now == self._identity:
            return None
        what = "deleted" if now is None else "replaced by another file"
        return f"the database file {self.path} was {what} while the server was running"
