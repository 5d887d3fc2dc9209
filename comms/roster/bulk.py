"""Bulk INSERT straight through the driver's executemany, for the roster's large writes.

SQLAlchemy's per-parameter type processing dominates a 100,000-row import, so values are
converted here once, the way the column types would store them: aware datetimes as naive UTC
text on SQLite (UTCDateTime's storage) and as-is on PostgreSQL; dates as ISO text on SQLite;
JSON as text; booleans as integers on SQLite.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Table
from sqlalchemy.engine import Connection

from comms.models.types import UTCDateTime

Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: every timestamp must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _pg_datetime(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime refused: every timestamp must be timezone-aware")
    return value


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _json(value: Any) -> str:
    return json.dumps(value)


def _converter(column_type: Any, sqlite: bool) -> Converter:
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime if sqlite else _pg_datetime
    if isinstance(column_type, JSON):
        return _json
    if isinstance(column_type, Date):
        return _sqlite_date if sqlite else _identity
    if isinstance(column_type, Boolean):
        return _identity  # sqlite3 stores bool as 0/1 natively
    return _identity


def _memo(convert: Converter) -> Converter:
    """Convert each distinct value once: roster columns repeat (the same `now`, dates, limits)."""
    cache: dict[Any, Any] = {}

    def run(value: Any) -> Any:
        key = tuple(sorted(value.items())) if isinstance(value, dict) else value
        try:
            return cache[key]
        except KeyError:
            out = cache[key] = convert(value)
            return out
        except TypeError:  # unhashable (a list): convert every time
            return convert(value)

    return run


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT every row (all rows have the same keys) with one executemany."""
    if not rows:
        return
    keys = set(rows[0])
    columns = [c.name for c in table.columns if c.name in keys]  # the compiled order
    getter = operator.itemgetter(*columns)
    insert_tuples(conn, table, columns, [getter(row) for row in rows])


def insert_tuples(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """INSERT rows given as tuples in `columns` order, with one executemany."""
    if not rows:
        return
    dialect = conn.dialect
    sqlite = dialect.name == "sqlite"
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(mark for _ in columns)})"
    )
    convert = [
        (i, _memo(conv))
        for i, name in enumerate(columns)
        if (conv := _converter(table.c[name].type, sqlite)) is not _identity
    ]
    if convert:
        converted: list[tuple[Any, ...]] = []
        append = converted.append
        for row in rows:
            values = list(row)
            for i, conv in convert:
                values[i] = conv(values[i])
            append(tuple(values))
        rows = converted
    conn.exec_driver_sql(sql, list(rows))
