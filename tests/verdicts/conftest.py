"""Stored verdicts: a world where time, rosters and decisions move, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time
from pathlib import Path

from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from comms.app.registry import metadata
from comms.compliance import Status
from comms.profiles import load_profiles
from comms.roster import import_roster
from comms.roster.importer import ImportResult
from comms.stored_verdicts import SEVERITY

REPO = Path(__file__).resolve().parents[2]
HEADER = [
    "vendor_name",
    "vendor_email",
    "vendor_phone",
    "agent_name",
    "agent_email",
    "profile",
    "coverage",
    "policy_number",
    "effective_date",
    "expiration_date",
    "each_occurrence",
    "general_aggregate",
    "combined_single_limit",
    "el_each_accident",
    "additional_insured",
    "waiver_of_subrogation",
]


def empty(engine: Engine) -> None:
    """Every table emptied (one database reused by each example)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())


def noon(day: date) -> datetime:
    return datetime.combine(day, time(17, 0), tzinfo=UTC)  # noon in New York


def write_roster(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in HEADER})
    return path


def load_config_profiles(engine: Engine) -> None:
    with Session(engine) as s:
        load_profiles(s, REPO / "config" / "requirements")
        s.commit()


def run_import(engine: Engine, path: Path, *, now: datetime) -> ImportResult:
    with Session(engine) as s:
        result = import_roster(s, path, now=now)
        s.commit()
    return result


MARK = "stored, not computed"


def alter_stored(engine: Engine, vendor_id: int) -> None:
    """The stored row says 'missing', with a deficiency no computation would write."""
    bad = Status.MISSING
    deficiency = {"code": "marker", "coverage": "general_liability", "message": MARK}
    table = SQLModel.metadata.tables["vendor_verdict"]
    with engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.vendor_id == vendor_id)
            .values(status=bad.value, severity=SEVERITY[bad], deficiencies=[deficiency])
        )
