"""UPDATE many rows by id with one executemany, cheaply.

SQLAlchemy's executemany processes every parameter of every row through its compiler's
machinery; for the outbox's per-message writes (rendered content, outcomes) that costs more
than the database does. `update_by_id` compiles the statement once, converts each value with
its column type's own bind processor (so JSON, dates and custom types are stored exactly as
the ORM stores them), and hands plain tuples to the driver. On PostgreSQL the rows travel as
one JSON document instead (`comms.bulk_sql.update_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from comms.bulk_sql import is_pg, update_rows


def _processor(conn: Connection, table: Table, name: str) -> Callable[[Any], Any] | None:
    processor = table.c[name].type.bind_processor(conn.dialect)
    return processor


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
    processors = [_processor(conn, table, n) for n in [*names, "id"]]
    params = []
    for row in rows:
        values = [row[n] for n in names]
        values.append(row["id"])
        params.append(
            tuple(v if p is None else p(v) for v, p in zip(values, processors, strict=True))
        )
    conn.exec_driver_sql(sql, params)
