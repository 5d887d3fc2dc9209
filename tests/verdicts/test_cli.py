"""`comms status` (counts, then the worst first, at most 50, `--all`, the unreachable flag,
`--json` streamed) and `comms verdicts check` (exit 1 on drift)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from typer.testing import CliRunner

from comms.app.cli import app
from comms.models import VendorVerdict
from tests.verdicts.conftest import load_config_profiles, write_roster

TODAY = date(2026, 6, 1)
NOW = "2026-06-01T12:00:00-04:00"


def roster_rows(n: int) -> list[dict[str, str]]:
    """`n` vendors: every third compliant, the others missing (no policies), vendor 1 with no
    email, phone or agent (unreachable)."""
    rows = []
    for i in range(n):
        base = {
            "vendor_name": f"Vendor {i:03d}",
            "vendor_email": "" if i == 1 else f"v{i}@example.test",
            "profile": "low-risk",
        }
        if i % 3 == 0:
            rows.append(
                {
                    **base,
                    "coverage": "General Liability",
                    "policy_number": f"GL-{i}",
                    "effective_date": (TODAY - timedelta(days=100)).isoformat(),
                    "expiration_date": (TODAY + timedelta(days=200 + i)).isoformat(),
                    "each_occurrence": "1000000",
                    "general_aggregate": "1000000",
                }
            )
        else:
            rows.append(base)
    return rows


def imported(use_db: Engine, tmp_path: Path, n: int) -> CliRunner:
    load_config_profiles(use_db)
    runner = CliRunner()
    path = write_roster(tmp_path / "roster.csv", roster_rows(n))
    result = runner.invoke(app, ["import", str(path), "--now", NOW])
    assert result.exit_code == 0, result.output
    return runner


def test_status_counts_then_worst_fifty(use_db: Engine, tmp_path: Path) -> None:
    runner = imported(use_db, tmp_path, 90)
    result = runner.invoke(app, ["status", "--now", NOW])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Compliance as of 2026-06-01: 90 vendors")
    assert "compliant 30" in lines[0] and "missing 60" in lines[0]
    rows = [line for line in lines if line.startswith("Vendor ")]
    assert len(rows) == 50
    assert all(" missing" in row for row in rows)
    assert "10 more need attention" in result.output
    unreachable = [row for row in rows if row.startswith("Vendor 001")]
    assert unreachable and "missing · unreachable" in unreachable[0]
    everything = runner.invoke(app, ["status", "--all", "--now", NOW])
    assert len([x for x in everything.output.splitlines() if x.startswith("Vendor ")]) == 90


def test_status_json_streams_stored_and_as_of(use_db: Engine, tmp_path: Path) -> None:
    runner = imported(use_db, tmp_path, 12)
    today = json.loads(runner.invoke(app, ["status", "--json", "--now", NOW]).output)
    assert today["counts"]["compliant"] == 4 and today["counts"]["missing"] == 8
    assert len(today["vendors"]) == 12
    one = next(v for v in today["vendors"] if v["name"] == "Vendor 001")
    assert one["unreachable"] is True and one["flags"] == ["unreachable"]
    assert one["status"] == "missing" and one["vendor_id"]
    # another day: computed from the records, the same shape
    later = runner.invoke(app, ["status", "--json", "--as-of", "2027-06-01", "--now", NOW])
    data = json.loads(later.output)
    assert data["counts"]["expired"] == 4 and data["counts"]["missing"] == 8
    assert {v["name"] for v in data["vendors"]} == {v["name"] for v in today["vendors"]}


def test_verdicts_check_exits_1_on_drift(use_db: Engine, tmp_path: Path) -> None:
    runner = imported(use_db, tmp_path, 6)
    clean = runner.invoke(app, ["verdicts", "check", "--now", NOW])
    assert clean.exit_code == 0, clean.output
    assert "no drift" in clean.output
    with Session(use_db) as s:
        s.exec(
            update(VendorVerdict)
            .where(col(VendorVerdict.status) == "missing")
            .values(status="compliant")
        )
        s.commit()
    drifted = runner.invoke(app, ["verdicts", "check", "--now", NOW])
    assert drifted.exit_code == 1, drifted.output
    assert "differs in status" in drifted.output
    fixed = runner.invoke(app, ["verdicts", "refresh", "--now", NOW])
    assert fixed.exit_code == 0, fixed.output
    assert runner.invoke(app, ["verdicts", "check", "--now", NOW]).exit_code == 0
