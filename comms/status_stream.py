"""`comms status` output, streamed: the counts, then vendors a row at a time, so memory
follows one batch and never the roster.

Today's status reads the stored verdicts (`comms.stored_verdicts`, rolled to the day first),
worst first through the `ix_vendor_verdict_worst` index. Another day's (`--as-of`) is computed
from the records a batch of vendors at a time (`comms.verdicts.iter_verdicts`).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from json.encoder import encode_basestring_ascii as _quoted  # what json.dumps(str) writes
from typing import Any

from sqlalchemy import Table, Text, cast, select
from sqlmodel import Session, SQLModel

from comms.compliance import STATUS_ORDER
from comms.stored_verdicts import SEVERITY, UNREACHABLE, counts
from comms.verdicts import iter_verdicts

YIELD = 1000
COMPLIANT_SEVERITY = SEVERITY[STATUS_ORDER[0]]
Write = Callable[[str], Any]


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


@dataclass(frozen=True)
class Entry:
    """One vendor line of the status."""

    id: int
    name: str
    vendor_code: str | None
    status: str
    severity: int
    flags: list[str]
    next_expiration: date | None
    deficiencies: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vendor_id": self.vendor_code,
            "id": self.id,
            "status": self.status,
            "unreachable": UNREACHABLE in self.flags,
            "flags": list(self.flags),
            "next_expiration": self.next_expiration.isoformat() if self.next_expiration else None,
            "deficiencies": [
                {"code": d["code"], "coverage": d["coverage"], "message": d["message"]}
                for d in self.deficiencies
            ],
        }

    def order(self) -> tuple[Any, ...]:
        """Worst first: severity, then the soonest expiration, then the vendor id."""
        return (self.severity, self.next_expiration or date.max, self.id)


def whole_result(session: Session) -> None:
    """PostgreSQL plans a streamed query (a server-side cursor) for its first 10% of rows
    (`cursor_tuple_fraction`): worst first, that is the `worst` index with a lookup of each
    vendor, two random reads a row. Every row is read here, so the transaction plans for all
    of them: a scan, a hash join and a sort (at 300,000 vendors 0.6 s instead of 2.3 s, and
    the random reads grow worse once the tables outgrow the shared buffers)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # (the driver's own connection: this one may be set to stream, through a cursor)
        driver: Any = conn.connection.driver_connection
        driver.execute("SET LOCAL cursor_tuple_fraction = 1.0")


def stored_entries(
    session: Session,
    *,
    attention_only: bool = False,
    limit: int | None = None,
    vendor_name: str | None = None,
) -> Iterator[Entry]:
    """The stored verdicts worst first, streamed from the database (`yield_per`)."""
    vv, v = _table("vendor_verdict"), _table("vendor")
    query = (
        select(
            vv.c.vendor_id,
            v.c.name,
            v.c.vendor_code,
            vv.c.status,
            vv.c.severity,
            vv.c.flags,
            vv.c.next_expiration,
            vv.c.deficiencies,
        )
        .join(v, v.c.id == vv.c.vendor_id)
        .order_by(vv.c.severity, vv.c.next_expiration, vv.c.vendor_id)
    )
    if attention_only:
        query = query.where(vv.c.severity < COMPLIANT_SEVERITY)
    if vendor_name:
        query = query.where(v.c.name.ilike(vendor_name))
    if limit is not None:
        query = query.limit(limit)
    else:
        whole_result(session)
    conn = session.connection().execution_options(yield_per=YIELD, stream_results=True)
    for row in conn.execute(query):
        yield Entry(*row)


def stored_lines(session: Session, *, vendor_name: str | None = None) -> Iterator[tuple[str, str]]:
    """(status, the vendor's JSON line) of every stored verdict, worst first: `stored_entries`
    written straight from the rows (the JSON columns cast to their text, not decoded and
    encoded again, except the deficiencies, which keep only code, coverage and message).

    On SQLite the rows are sorted by the database's sorter (which spills to temporary files,
    so memory stays flat) rather than read in the order of the `ix_vendor_verdict_worst` index:
    that order visits the table's rows at random, twice as slow for the whole roster."""
    vv, v = _table("vendor_verdict"), _table("vendor")
    conn = session.connection()
    severity: Any = vv.c.severity
    if conn.dialect.name == "sqlite":
        severity = severity + 0  # an expression: the sorter, not the index
    query = (
        select(
            vv.c.vendor_id,
            v.c.name,
            v.c.vendor_code,
            vv.c.status,
            cast(vv.c.flags, Text),
            cast(vv.c.next_expiration, Text),
            cast(vv.c.deficiencies, Text),
        )
        .join(v, v.c.id == vv.c.vendor_id)
        .order_by(severity, vv.c.next_expiration, vv.c.vendor_id)
    )
    if vendor_name:
        query = query.where(v.c.name.ilike(vendor_name))
    whole_result(session)
    rows = conn.execution_options(yield_per=YIELD, stream_results=True).execute(query)
    dumps, loads, quoted = json.dumps, json.loads, _quoted
    for vid, name, code, status, flags, expires, deficiencies in rows:
        if deficiencies == "[]":
            shown = "[]"
        else:
            shown = dumps(
                [
                    {"code": d["code"], "coverage": d["coverage"], "message": d["message"]}
                    for d in loads(deficiencies)
                ]
            )
        yield (
            status,
            f'{{"name": {quoted(name)}, "vendor_id": {"null" if code is None else quoted(code)}, '
            f'"id": {vid}, "status": "{status}", '
            f'"unreachable": {"true" if UNREACHABLE in flags else "false"}, "flags": {flags}, '
            f'"next_expiration": {quoted(expires) if expires else "null"}, '
            f'"deficiencies": {shown}}}',
        )


def write_json_lines(
    write: Write, day: date, lines: Iterator[tuple[str, str]], counted: dict[str, int]
) -> int:
    """`write_json` for lines already encoded (`stored_lines`), written `YIELD` lines at a
    time."""
    write('{"as_of": ' + json.dumps(day.isoformat()) + ', "counts": ' + json.dumps(counted))
    write(', "vendors": [\n')
    n = 0
    chunk: list[str] = []
    for _status, line in lines:
        chunk.append(line)
        if len(chunk) == YIELD:
            write(("" if n == 0 else ",\n") + ",\n".join(chunk))
            n += len(chunk)
            chunk = []
    if chunk:
        write(("" if n == 0 else ",\n") + ",\n".join(chunk))
        n += len(chunk)
    write("\n]}\n" if n else "]}\n")
    return n


def fresh_entries(
    session: Session, day: date, *, vendor_name: str | None = None
) -> Iterator[Entry]:
    """Every active vendor's verdict on `day` from the records, a batch at a time."""
    for item in iter_verdicts(session, day, vendor_name=vendor_name):
        v = item.verdict
        yield Entry(
            id=item.vendor.id or 0,
            name=item.vendor.name,
            vendor_code=item.vendor.vendor_code,
            status=v.status.value,
            severity=SEVERITY[v.status],
            flags=list(item.flags),
            next_expiration=v.next_expiration,
            deficiencies=[d.as_dict() for d in v.deficiencies],
        )


def write_json(
    write: Write, day: date, entries: Iterator[Entry], counted: dict[str, int] | None
) -> int:
    """`{"as_of", "counts", "vendors"}` written a vendor per line. With `counted` None (a
    day computed from the records) the counts are tallied on the way and written after the
    vendors. Returns the number of vendors."""
    write('{"as_of": ' + json.dumps(day.isoformat()))
    if counted is not None:
        write(', "counts": ' + json.dumps(counted))
    tally = {s.value: 0 for s in STATUS_ORDER}
    write(', "vendors": [')
    n = 0
    for entry in entries:
        write(("\n" if n == 0 else ",\n") + json.dumps(entry.as_dict()))
        tally[entry.status] += 1
        n += 1
    write("\n]")
    if counted is None:
        write(', "counts": ' + json.dumps(tally))
    write("}\n")
    return n


def worst(entries: Iterator[Entry], limit: int | None) -> tuple[list[Entry], dict[str, int]]:
    """From a stream: the counts and the `limit` worst vendors needing attention (all of them
    when `limit` is None), worst first, in memory bounded by `limit`."""
    tally = {s.value: 0 for s in STATUS_ORDER}
    keep: list[tuple[_Reverse, Entry]] = []
    everything: list[Entry] = []
    for entry in entries:
        tally[entry.status] += 1
        if entry.severity >= COMPLIANT_SEVERITY:
            continue
        if limit is None:
            everything.append(entry)
            continue
        item = (_Reverse(entry.order()), entry)
        if len(keep) < limit:
            heapq.heappush(keep, item)
        elif item[0] > keep[0][0]:
            heapq.heapreplace(keep, item)
    chosen = everything if limit is None else [e for _, e in keep]
    return sorted(chosen, key=Entry.order), tally


class _Reverse:
    """Reverses the order of a sort key (a max-heap on a min-heap)."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __lt__(self, other: _Reverse) -> bool:
        return other.key < self.key

    def __gt__(self, other: _Reverse) -> bool:
        return self.key < other.key


__all__ = [
    "Entry",
    "counts",
    "fresh_entries",
    "stored_entries",
    "stored_lines",
    "worst",
    "write_json",
    "write_json_lines",
]
