"""Engine, sessions and the few column types shared by every table.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and writers take one
process-wide lock so they queue in Python instead of spinning on SQLITE_BUSY. PostgreSQL comes
through the same ``DATABASE_URL``; nothing here is SQLite-only SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, col, select

from app.database_url import check_database_url
from app.dbfile import DatabaseFile


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive).

    On SQLite the values are written and read in SQLAlchemy's own text format
    (``2026-11-28 14:30:00.000000``) by one direct conversion each way: the ingest path binds
    several datetimes per alert, and the generic two-step conversion was a tenth of its time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return sqlite_text
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_datetime
        return super().result_processor(dialect, coltype)


def sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # without the "+00:00"


def _sqlite_datetime(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class EnumText(TypeDecorator[Enum]):
    """A ``StrEnum`` stored as its value in a VARCHAR: the schema keeps plain strings (no
    database enum type, no migration); Python reads the enum back, so mypy checks every
    comparison. Writing a value outside the enum is a ValueError before any SQL runs."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: object, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(str(value)).value

    def process_result_value(self, value: object, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(str(value))


def enum_column(enum: type[StrEnum], *, length: int = 16) -> Column[Any]:
    """A NOT NULL column of ``enum`` values (see ``EnumText``)."""
    return Column(EnumText(enum, length), nullable=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str, *, pool_size: int = 8) -> Engine:
    """Create the engine for ``url``; for SQLite also create the file's folder."""
    check_database_url(url)  # ConfigError naming the supported schemes
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            pool_size=pool_size,
            json_serializer=json_text,
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        json_serializer=json_text,
        json_deserializer=orjson.loads,
    )


def json_text(value: Any) -> str:
    """JSON columns (labels, annotations, details) through orjson: the ingest hot path."""
    return orjson.dumps(value, default=str).decode()


class Database:
    """The engine plus a writer lock (SQLite only) and a session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock()
        self.file = DatabaseFile.watch(engine)

    def writer(self) -> AbstractContextManager[object]:
        """Serialise writers on SQLite; no-op on PostgreSQL (row locks do the work)."""
        return self._write_lock if self.is_sqlite else nullcontext()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """``session()`` under the writer lock: one transaction that changes state."""
        with self.writer(), self.session() as session:
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A Core connection in one transaction under the writer lock (the bulk ingest path)."""
        with self.writer(), self.engine.begin() as connection:
            yield connection

    def prefer_indexes(self, connection: Connection) -> None:
        """Plan this transaction's lookups as index scans (PostgreSQL; SQLite needs nothing).

        Until autovacuum first analyzes a young table, PostgreSQL assumes each value of an
        ``IN (...)`` list matches 0.5 % of the rows, so the ingest's lookup of 80 fingerprints
        became a sequential scan of every alert (15-50 ms a batch, growing with the table).
        Every query of the ingest is a lookup by an indexed key, so this is always right.
        """
        if not self.is_sqlite:
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")

    def dispose(self) -> None:
        self.engine.dispose()


def dialect_insert(table: Table, dialect: str) -> sqlite.Insert | postgresql.Insert:
    """An insert of ``dialect`` (``sqlite`` or ``postgresql``) with ``on_conflict_do_*``."""
    return sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)


MAX_PAGE = 200

Model = TypeVar("Model", bound=SQLModel)


def newest_first(
    session: Session,
    model: type[Model],
    *,
    where: Sequence[ColumnElement[bool]] = (),
    limit: int,
    before_id: int | None,
    max_page: int = MAX_PAGE,
) -> tuple[list[Model], int | None]:
    """One page of ``model`` rows, newest id first, and the cursor of the next page (or None).

    Keyset pagination on the primary key: ``before_id`` is the last id of the previous page.
    """
    size = min(limit, max_page)
    row_id = col(model.id)  # type: ignore[attr-defined]
    query = select(model).where(*where).order_by(row_id.desc()).limit(size + 1)
    if before_id is not None:
        query = query.where(row_id < before_id)
    rows = list(session.exec(query).all())
    page = rows[:size]
    return page, (page[-1].id if len(rows) > size else None)  # type: ignore[attr-defined]


def id_column() -> Column[int]:
    """A 64-bit autoincrementing primary key (INTEGER on SQLite, where that is the rowid)."""
    return Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
