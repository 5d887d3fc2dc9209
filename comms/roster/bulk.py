"""Bulk INSERT straight through the driver's executemany (COPY on PostgreSQL), for the
roster's large writes.

SQLAlchemy's per-parameter type processing dominates a 100,000-row import, so values are put
in storage form here, the way the column types would store them: aware datetimes as naive UTC
text on SQLite (UTCDateTime's storage) and as-is on PostgreSQL; dates as ISO text on SQLite;
JSON as text; booleans as they are (sqlite3 stores them as 0/1). Callers convert each distinct
value once (`store`) and hand over tuples ready for the driver (`run`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Table, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel

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
    return _identity


# A batch at least this large, into a table no larger than the batch, goes in with the
# table's plain indexes dropped and built again afterwards (SQLite): sorting the keys once is
# much cheaper than that many random B-tree inserts.
REBUILD_INDEXES_FROM = 10_000


class BulkInsert:
    """One prepared INSERT of `columns` into `table`, run with a single executemany."""

    def __init__(self, conn: Connection, table: Table, columns: Sequence[str]) -> None:
        dialect = conn.dialect
        self._quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.conn = conn
        self.table = table.name
        self.columns = tuple(columns)
        self.sql = (
            f"INSERT INTO {self._quote(table.name)} ({', '.join(self._quote(c) for c in columns)}) "
            f"VALUES ({', '.join(mark for _ in columns)})"
        )
        self._sqlite = dialect.name == "sqlite"
        self._pg = dialect.name == "postgresql"
        self._convert = {c: _converter(table.c[c].type, self._sqlite) for c in columns}

    def store(self, column: str, value: Any) -> Any:
        """`value` in the form the driver stores in `column`."""
        return self._convert[column](value)

    def run(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """INSERT rows already in storage form, in `columns` order."""
        if not rows:
            return
        if self._pg:
            copy_rows(
                self.conn, self._quote(self.table), [self._quote(c) for c in self.columns], rows
            )
            return
        indexes = self._plain_indexes() if self._rebuild_indexes(len(rows)) else []
        for name, _ in indexes:
            self.conn.exec_driver_sql(f"DROP INDEX {self._quote(name)}")
        self.conn.exec_driver_sql(self.sql, list(rows))
        for _, create in indexes:
            self.conn.exec_driver_sql(create)

    def _rebuild_indexes(self, batch: int) -> bool:
        if not self._sqlite or batch < REBUILD_INDEXES_FROM:
            return False
        count = self.conn.exec_driver_sql(f"SELECT count(*) FROM {self._quote(self.table)}")
        return batch >= int(count.scalar_one())

    def _plain_indexes(self) -> list[tuple[str, str]]:
        """(name, CREATE INDEX statement) of the table's indexes that enforce nothing: made
        by CREATE INDEX (not by a constraint), not unique. Dropped and created again in the
        same transaction, they end exactly as they were."""
        listed = self.conn.exec_driver_sql(f"PRAGMA index_list({self._quote(self.table)})")
        plain = {row[1] for row in listed if row[2] == 0 and row[3] == "c"}
        created = self.conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "ORDER BY rowid",
            (self.table,),
        )
        return [(name, sql) for name, sql in created if name in plain and sql]


def copy_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """PostgreSQL: rows into `table` (a quoted name) with COPY, in the connection's
    transaction: several times faster than an executemany of INSERTs."""
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def update_by_id(session: Session, model: type[SQLModel], items: list[dict[str, Any]]) -> None:
    """UPDATE rows by primary key ("id" in each item), in order: one executemany per run of
    consecutive items that set the same columns (a row updated twice ends as the last says)."""
    run: list[dict[str, Any]] = []
    for item in items:
        if run and run[0].keys() != item.keys():
            session.execute(update(model), run)
            run = []
        run.append(item)
    if run:
        session.execute(update(model), run)
