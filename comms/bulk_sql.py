"""Statements over many rows at once, cheap on PostgreSQL and portable elsewhere.

On PostgreSQL a list of values travels as one JSON array parameter (`col IN (SELECT …
json_array_elements_text(:list))`) instead of an IN list of thousands of placeholders, and
many rows travel as one JSON document
(`INSERT … SELECT … FROM json_to_recordset(:rows)`, `UPDATE … FROM json_to_recordset(…)`)
instead of a multi-row VALUES list: the statement text stays a few hundred bytes whatever the
batch size, the driver has nothing to parse or escape per value, and the server decodes the
rows in C. Elsewhere (SQLite) the same calls use IN lists, executemany and INSERT … RETURNING.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    DateTime,
    Table,
    bindparam,
    cast,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from comms.errors import PermanentError


def _encoder() -> Callable[[Any], str]:
    """A compact JSON encoder without the per-call overhead of `json.dumps` (the C encoder
    called directly, when the interpreter has it)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(check_circular=False, separators=(",", ":")).encode

    def refuse(value: Any) -> Any:
        raise TypeError(f"not JSON serializable: {type(value).__name__}")

    chunks = make(
        None, refuse, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )

    def encode(value: Any) -> str:
        if isinstance(value, str):  # the C encoder takes containers
            return json.dumps(value)
        return "".join(chunks(value, 0))

    return encode


_encode = _encoder()


def is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def among(conn: Connection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL the values travel as one JSON array parameter."""
    if not is_pg(conn):
        return column.in_(list(values))
    param: Any = bindparam(None, json.dumps([_plain(v) for v in values]))
    elements = select(
        cast(func.json_array_elements_text(cast(param, JSON)).column_valued(), column.type)
    )
    return column.in_(elements)


def _sql_type(conn: Connection, table: Table, name: str) -> str:
    return str(table.c[name].type.compile(dialect=conn.dialect))


def _plain(value: Any) -> Any:
    """A value as JSON carries it to PostgreSQL (which casts it to the column type)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _recordset(
    conn: Connection, table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]
) -> tuple[str, str]:
    """(the JSON document of `rows`, the `json_to_recordset(…) AS v(col type, …)` clause).
    A value that is None is left out of its object: the record has NULL there."""
    timed = {
        n
        for n in names
        if isinstance(table.c[n].type, DateTime | Date)
        or isinstance(getattr(table.c[n].type, "impl", None), DateTime | Date)
    }
    seen: dict[Any, str] = {}

    def iso(value: Any) -> str:
        found = seen.get(value)
        if found is None:
            found = seen[value] = value.isoformat()
        return found

    doc = _encode(
        [{n: (iso(v) if n in timed else v) for n, v in r.items() if v is not None} for r in rows]
    )
    columns = ", ".join(f'"{n}" {_sql_type(conn, table, n)}' for n in names)
    return doc, f"json_to_recordset(CAST(:rows AS JSON)) AS v({columns})"


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    returning: Sequence[str] = (),
    *,
    skip_conflicts_on: str | None = None,
) -> list[tuple[Any, ...]]:
    """Insert `rows` (dicts with the same keys), in order; the `returning` columns of each new
    row are returned (in no particular order: return a key to match them). With
    `skip_conflicts_on` (a unique column), a row whose value there exists is not inserted (and
    not returned)."""
    if not rows:
        return []
    names = list(rows[0])
    if not is_pg(conn):
        if skip_conflicts_on is not None:
            stmt: Any = sqlite_insert(table).on_conflict_do_nothing(
                index_elements=[skip_conflicts_on]
            )
        else:
            stmt = insert(table)
        if returning:
            result = conn.execute(stmt.returning(*(table.c[n] for n in returning)), list(rows))
            return [tuple(r) for r in result]
        conn.execute(stmt, list(rows))
        return []
    doc, source = _recordset(conn, table, names, rows)
    cols = ", ".join(f'"{n}"' for n in names)
    sql = f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM {source}'
    if skip_conflicts_on is not None:
        sql += f' ON CONFLICT ("{skip_conflicts_on}") DO NOTHING'
    if returning:
        sql += " RETURNING " + ", ".join(f'"{n}"' for n in returning)
        return [tuple(r) for r in conn.execute(text(sql), {"rows": doc}).all()]
    conn.execute(text(sql), {"rows": doc})
    return []


def update_rows(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, key: str = "id"
) -> None:
    """Update each row (a dict of `key` and the new values; all with the same keys)."""
    if not rows:
        return
    if not is_pg(conn):
        names = [n for n in rows[0] if n != key]
        conn.execute(
            update(table).where(table.c[key] == bindparam("_key")),
            [{"_key": r[key], **{n: r[n] for n in names}} for r in rows],
        )
        return
    run_prepared_update(conn, prepare_update(conn, table, rows, key=key))


@dataclass(frozen=True)
class PreparedUpdate:
    """A PostgreSQL `UPDATE … FROM json_to_recordset(…)`, its document already encoded."""

    sql: str
    doc: str


def prepare_update(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, key: str = "id"
) -> PreparedUpdate:
    """PostgreSQL: the statement and JSON document of `update_rows` (encoding is Python work
    that can be done apart from the database's)."""
    names = [n for n in rows[0] if n != key]
    doc, source = _recordset(conn, table, [key, *names], rows)
    sets = ", ".join(f'"{n}" = v."{n}"' for n in names)
    sql = f'UPDATE "{table.name}" AS t SET {sets} FROM {source} WHERE t."{key}" = v."{key}"'
    return PreparedUpdate(sql, doc)


def run_prepared_update(conn: Connection, prepared: PreparedUpdate) -> None:
    conn.execute(text(prepared.sql), {"rows": prepared.doc})


class DuplicateKey(PermanentError):
    """A COPY hit a unique index: nothing of it was written (the caller rolls back)."""

    code = "duplicate_key"


@dataclass(frozen=True)
class PreparedCopy:
    """Rows for COPY: the column names and each row's values in that order, JSON encoded."""

    names: list[str]
    rows: list[list[Any]]


def reserve_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """PostgreSQL: `count` new ids drawn from the table's sequence (its name looked up once,
    not once per id)."""
    if count == 0:
        return []
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        cur.execute(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq)"
            " SELECT nextval(s.seq) FROM s, generate_series(1, %s)",
            (f'"{table.name}"', count),
        )
        return [r[0] for r in cur.fetchall()]


def prepare_copy(
    table: Table, rows: Sequence[dict[str, Any]], *, ids: Sequence[int] | None = None
) -> PreparedCopy:
    """The COPY rows of `rows` (dicts with the same keys), with `ids` in an `id` column."""
    if not rows:
        return PreparedCopy([], [])
    return prepare_copy_lists(table, list(rows[0]), [list(r.values()) for r in rows], ids=ids)


def prepare_copy_lists(
    table: Table, names: Sequence[str], rows: list[list[Any]], *, ids: Sequence[int] | None = None
) -> PreparedCopy:
    """`prepare_copy` of rows given as lists of values in the order of `names` (their JSON
    values are encoded in place)."""
    if not rows:
        return PreparedCopy([], [])
    encode = [i for i, n in enumerate(names) if isinstance(table.c[n].type, JSON)]
    # by id(): rows often share one value object (held here, so that no id is reused)
    encoded: dict[int, tuple[Any, str]] = {}
    for values in rows:
        for j in encode:
            value = values[j]
            if value is not None:
                found = encoded.get(id(value))
                if found is None:
                    found = encoded[id(value)] = (value, _encode(value))
                values[j] = found[1]
    if ids is None:
        return PreparedCopy(list(names), rows)
    return PreparedCopy(
        ["id", *names], [[new_id, *values] for new_id, values in zip(ids, rows, strict=True)]
    )


def copy_prepared(conn: Connection, table: Table, prepared: PreparedCopy) -> None:
    """PostgreSQL: write prepared rows with COPY. Raises DuplicateKey on a unique violation
    (the transaction must then roll back to a savepoint)."""
    if not prepared.rows:
        return
    # Lazy: psycopg is an optional dependency (the `postgres` extra); only PostgreSQL gets here.
    import psycopg

    raw: Any = conn.connection.dbapi_connection
    cols = ", ".join(f'"{n}"' for n in prepared.names)
    with raw.cursor() as cur:
        try:
            with cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
                for values in prepared.rows:
                    copy.write_row(values)
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateKey(str(exc)) from None
