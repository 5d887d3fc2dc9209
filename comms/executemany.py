"""UPDATE many rows by id, INSERT many rows, cheaply.

SQLAlchemy's executemany processes every parameter of every row through its compiler's
machinery; for the outbox's per-message writes (rendered content, outcomes) that costs more
than the database does. `update_by_id` compiles the statement once, converts each value with
its column type's own bind processor (so JSON, dates and custom types are stored exactly as
the ORM stores them), and hands plain tuples to the driver. `insert_many` does the same for a
multi-row INSERT … RETURNING on SQLite. On PostgreSQL the rows travel as one JSON document
instead (`comms.bulk_sql`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from comms.bulk_sql import insert_rows, is_pg, update_rows


def _processor(conn: Connection, table: Table, name: str) -> Callable[[Any], Any] | None:
    processor = table.c[name].type.bind_processor(conn.dialect)
    return processor


class _Converter:
    """The values of rows as the driver takes them: each column's bind processor applied
    (only the columns that have one), and each distinct value object converted once — rows
    of one batch share their timestamps and often their JSON content (the objects stay
    referenced by the rows while the converter lives, so an `id()` is never reused)."""

    def __init__(self, conn: Connection, table: Table, names: Sequence[str]) -> None:
        self.names = list(names)
        self.convert = [
            (i, p) for i, n in enumerate(self.names) if (p := _processor(conn, table, n))
        ]
        self.seen: dict[tuple[int, int], Any] = {}

    def values(self, row: dict[str, Any]) -> list[Any]:
        values = [row[n] for n in self.names]
        seen = self.seen
        for i, processor in self.convert:
            value = values[i]
            key = (i, id(value))
            if key in seen:
                values[i] = seen[key]
            else:
                values[i] = seen[key] = processor(value)
        return values


def update_by_id(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Set the values of each row (dicts with "id" and the same other keys)."""
    if not rows:
        return
    if is_pg(conn):
        update_rows(conn, table, rows)
        return
    names = [n for n in rows[0] if n != "id"]
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sets = ", ".join(f"{quote(n)} = {mark}" for n in names)
    sql = f"UPDATE {quote(table.name)} SET {sets} WHERE {quote('id')} = {mark}"
    converter = _Converter(conn, table, [*names, "id"])
    conn.exec_driver_sql(sql, [tuple(converter.values(row)) for row in rows])


SQLITE_VARIABLES = 30_000  # below SQLite's limit of bound variables per statement


def insert_many(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    returning: Sequence[str],
    skip_conflicts_on: str,
) -> list[tuple[Any, ...]]:
    """`comms.bulk_sql.insert_rows` with RETURNING and ON CONFLICT DO NOTHING: the
    `returning` columns of each row inserted (a row whose `skip_conflicts_on` value exists is
    not)."""
    if not rows:
        return []
    if conn.dialect.name != "sqlite":
        return insert_rows(
            conn, table, rows, returning=returning, skip_conflicts_on=skip_conflicts_on
        )
    names = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    converter = _Converter(conn, table, names)
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES "
    tail = (
        f" ON CONFLICT ({quote(skip_conflicts_on)}) DO NOTHING"
        f" RETURNING {', '.join(quote(n) for n in returning)}"
    )
    one = "(" + ", ".join("?" for _ in names) + ")"
    per_statement = max(1, SQLITE_VARIABLES // len(names))
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        params: list[Any] = []
        for row in chunk:
            params.extend(converter.values(row))
        sql = head + ", ".join(one for _ in chunk) + tail
        found.extend(tuple(r) for r in conn.exec_driver_sql(sql, tuple(params)).fetchall())
    return found
