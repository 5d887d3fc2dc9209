"""`comms status --json` writes today's vendors from the stored rows' text
(`comms.status_stream.stored_lines`): each line is exactly what `json.dumps` makes of the
same vendor's entry (`stored_entries`), in the same order, worst first."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms import status_stream
from comms.status_stream import counts, stored_entries, stored_lines, write_json, write_json_lines
from tests.verdicts.conftest import load_config_profiles, noon, run_import, write_roster

TODAY = date(2026, 6, 1)


def rows() -> list[dict[str, str]]:
    out = []
    for i in range(30):
        base = {
            "vendor_name": f'Vendor "{i:02d}" Café',  # quotes and a non-ASCII letter
            "vendor_email": "" if i == 1 else f"v{i}@example.test",
            "profile": "low-risk",
        }
        if i % 5 == 0:
            out.append(base)  # missing
            continue
        out.append(
            {
                **base,
                "coverage": "General Liability",
                "policy_number": f"GL-{i}",
                "effective_date": (TODAY - timedelta(days=300)).isoformat(),
                "expiration_date": (TODAY + timedelta(days=(i * 17) % 90 - 20)).isoformat(),
                "each_occurrence": "1000000" if i % 3 else "5000",  # below the limit
                "general_aggregate": "1000000",
            }
        )
    return out


def test_stored_lines_are_the_entries_json(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_stream, "YIELD", 7)  # written in chunks of 7 lines
    load_config_profiles(db)
    run_import(db, write_roster(tmp_path / "r.csv", rows()), now=noon(TODAY))
    with Session(db) as s:
        lines = [line for _, line in stored_lines(s)]
        entries = [json.dumps(e.as_dict()) for e in stored_entries(s)]
        assert lines == entries
        statuses = {json.loads(line)["status"] for line in lines}
        assert {"missing", "non_compliant", "expired", "compliant"} <= statuses
        fast, slow = io.StringIO(), io.StringIO()
        write_json_lines(fast.write, TODAY, stored_lines(s), counts(s))
        write_json(slow.write, TODAY, stored_entries(s), None)
    data = json.loads(fast.getvalue())
    assert data["vendors"] == json.loads(slow.getvalue())["vendors"]
    assert len(data["vendors"]) == 30


def test_the_whole_stream_is_planned_for_every_row(db: Engine, tmp_path: Path) -> None:
    """On PostgreSQL the streamed status plans for all its rows (a server-side cursor would
    plan for the first 10%: the `worst` index and a vendor lookup per row); a limited read
    keeps the fast-start plan."""
    load_config_profiles(db)
    run_import(db, write_roster(tmp_path / "r.csv", rows()), now=noon(TODAY))
    with Session(db) as s:
        assert len(list(stored_entries(s, attention_only=True, limit=5))) == 5
        if db.dialect.name == "postgresql":
            assert _shown(s) == "0.1"
        assert len(list(stored_lines(s))) == 30
        if db.dialect.name == "postgresql":
            assert _shown(s) == "1"
        s.rollback()
        assert len(list(stored_entries(s))) == 30
        if db.dialect.name == "postgresql":
            assert _shown(s) == "1"


def _shown(s: Session) -> str:
    driver: Any = s.connection().connection.driver_connection
    return str(driver.execute("SHOW cursor_tuple_fraction").fetchone()[0])
