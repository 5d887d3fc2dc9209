"""What the workspace and the status ask of the stored verdicts reads an index: the SQL our
functions actually run is captured and EXPLAINed, on SQLite and on PostgreSQL (sequential
scans disabled, so the plan shows whether an index can serve the query at all)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.status_stream import stored_entries
from comms.stored_verdicts import changes_since, counts, due_ids, expiring_count, history
from comms.vendor_search import search_vendors
from comms.verdict_inputs import load_inputs
from tests.verdicts.conftest import load_config_profiles, noon, run_import, write_roster

TODAY = date(2026, 6, 1)


def _seed(engine: Engine, tmp_path: Path) -> None:
    load_config_profiles(engine)
    rows = [
        {
            "vendor_name": f"Vendor {i}",
            "vendor_email": f"v{i}@example.test",
            "vendor_phone": f"(212) 555-{1000 + i}",
            "profile": "low-risk",
            "coverage": "General Liability",
            "policy_number": f"GL-{i}",
            "effective_date": "2026-01-01",
            "expiration_date": f"2026-{(i % 12) + 1:02d}-15",
            "each_occurrence": "1000000",
            "general_aggregate": "1000000",
        }
        for i in range(40)
    ]
    run_import(engine, write_roster(tmp_path / "r.csv", rows), now=noon(TODAY))


def _captured(engine: Engine, work: Callable[[Session], Any]) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", note)
    try:
        with Session(engine) as s:
            result = work(s)
            if hasattr(result, "__next__"):
                list(result)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert seen, "the function ran no query"
    return seen


def _plan(engine: Engine, statement: str, params: Any) -> str:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN " + statement, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
        return "\n".join(" ".join(str(c) for c in row) for row in cursor.fetchall())
    finally:
        raw.rollback()
        raw.close()


CASES: dict[str, tuple[Callable[[Session], Any], str]] = {
    # the counts read `verdict_count`: a row per profile and status, whatever the roster
    "counts by status": (counts, "verdict_count"),
    "counts by profile": (lambda s: counts(s, profile_id=1), "verdict_count"),
    "expiring within 30 days": (
        lambda s: expiring_count(s, TODAY, 30),
        "ix_vendor_verdict_next_expiration",
    ),
    "the daily roll": (lambda s: due_ids(s, TODAY), "ix_vendor_verdict_changes_on"),
    "the worst fifty": (
        lambda s: stored_entries(s, attention_only=True, limit=50),
        "ix_vendor_verdict_worst",
    ),
    "search by name": (lambda s: search_vendors(s, "vendor 1"), "ix_vendor_name_lower"),
    "search by email": (lambda s: search_vendors(s, "v7@example.test"), "ix_vendor_email"),
    "search by phone": (lambda s: search_vendors(s, "212-555-1007"), "ix_vendor_phone"),
    "search by vendor ID": (lambda s: search_vendors(s, "100007"), "vendor_code"),
    # the one loader of verdict inputs, for a batch of vendors (import, roll, as-of status)
    "the verdict inputs of a batch": (
        lambda s: load_inputs(s, range(1, 30)),
        "ix_certificate_vendor_id",
    ),
    "one vendor's timeline": (lambda s: history(s, 3), "ix_verdict_change_vendor_at"),
    "the trend": (
        lambda s: changes_since(s, datetime(2026, 3, 1, tzinfo=UTC)),
        "ix_verdict_change_at",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_reads_an_index(db: Engine, tmp_path: Path, name: str) -> None:
    _seed(db, tmp_path)
    work, index = CASES[name]
    plans = [_plan(db, sql, params) for sql, params in _captured(db, work)]
    assert any(index in p for p in plans), f"{name}: {index} not in {plans}"
    for p in plans:
        lines = [line for line in p.splitlines() if "verdict_count" not in line]
        if db.dialect.name == "postgresql":
            assert not [x for x in lines if "Seq Scan" in x], f"{name}: {p}"
        else:
            scans = [x for x in lines if " SCAN " in f" {x} " and "INDEX" not in x]
            assert not scans, f"{name}: {p}"
