"""Bulk inserts straight through the database driver, for the two tables written per request.

Through SQLAlchemy's ``executemany`` every row's parameters are rebuilt and converted one
value at a time, which cost more than SQLite's own work: a fifth of ingest for the ten alert
rows of a payload, and most of a delivery-log flush. Here the conversions the column types
do (timestamps, JSON) are applied directly and the rows go to the driver's ``executemany``
as tuples. Only for tables whose columns are plain values, timestamps and JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import JSON, Connection, Table

from app.db import UTCDateTime, json_text, sqlite_text


@dataclass(frozen=True)
class _Shape:
    columns: tuple[str, ...]
    json: frozenset[str]
    times: frozenset[str]


@cache
def _shape(table: Table, columns: tuple[str, ...]) -> _Shape:
    types = {c: table.c[c].type for c in columns}
    return _Shape(
        columns,
        frozenset(c for c, t in types.items() if isinstance(t, JSON)),
        frozenset(c for c, t in types.items() if isinstance(t, UTCDateTime)),
    )


@cache
def _statement(table: Table, columns: tuple[str, ...], dialect: str) -> str:
    shape = _shape(table, columns)
    if dialect == "sqlite":
        marks = ", ".join("?" for _ in columns)
    else:  # psycopg: a str parameter is text, so JSON values are cast
        marks = ", ".join("CAST(%s AS JSON)" if c in shape.json else "%s" for c in columns)
    names = ", ".join(columns)
    return f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608 (schema names)


@cache
def _columns(table: Table) -> tuple[str, ...]:
    """Every column but the generated primary key."""
    return tuple(c.name for c in table.columns if not (c.primary_key and c.autoincrement))


def insert_rows(connection: Connection, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert ``rows``: every column but the generated key, as column -> value (aware
    datetimes, JSON as Python values)."""
    key = _columns(table)
    shape, dialect = _shape(table, key), connection.dialect.name
    when = sqlite_text if dialect == "sqlite" else None  # psycopg takes aware datetimes
    pairs = [(c, json_text if c in shape.json else when if c in shape.times else None) for c in key]
    params = [tuple(row[c] if f is None else f(row[c]) for c, f in pairs) for row in rows]
    if params:
        connection.exec_driver_sql(_statement(table, key, dialect), params)
