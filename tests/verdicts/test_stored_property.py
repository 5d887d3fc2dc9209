"""The stored verdict always equals a fresh computation: random rosters, changes and days.

Each example imports a random roster through `comms import`'s code, then applies random
steps: days pass (the daily roll), the roster is imported again with changes, a held
certificate is accepted or rejected, a profile changes, a vendor loses its contacts. After
every step `drift` (what `comms verdicts check` runs) finds nothing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.models import RequirementProfile, Vendor, VerdictChange
from comms.profiles import ProfileSpec, save_profile, spec_of
from comms.stored_verdicts import (
    count_drift,
    counts_history,
    drift,
    refresh_profile,
    refresh_vendor,
    roll,
)
from inbound.certificates import review_certificate
from tests.support import factory
from tests.verdicts.conftest import empty, load_config_profiles, noon, run_import, write_roster

START = date(2026, 6, 1)
COVERAGES = ("General Liability", "Auto", "Workers Comp")

policy = st.fixed_dictionaries(
    {
        "coverage": st.sampled_from(COVERAGES),
        "number": st.integers(1, 3),
        "start": st.integers(-400, 120),
        "term": st.integers(20, 400),
        "enough": st.booleans(),
        "ai": st.booleans(),
    }
)
vendor_rows = st.fixed_dictionaries(
    {
        "vendor": st.integers(0, 5),
        "profile": st.sampled_from(["standard", "low-risk", ""]),
        "policies": st.lists(policy, max_size=3),
    }
)
roster = st.lists(vendor_rows, min_size=1, max_size=5)
step = st.one_of(
    st.tuples(st.just("days"), st.integers(1, 120)),
    st.tuples(st.just("import"), roster),
    st.tuples(st.just("review"), st.integers(0, 5), st.booleans(), policy),
    st.tuples(st.just("profile"), st.integers(0, 60), st.booleans()),
    st.tuples(st.just("edit"), st.integers(0, 5)),
)


def rows_of(entries: list[dict[str, Any]], today: date) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for entry in entries:
        i = entry["vendor"]
        base = {
            "vendor_name": f"Vendor {i}",
            "vendor_email": f"v{i}@example.test" if i % 3 else "",
            "vendor_phone": f"(212) 555-01{i:02d}" if i % 2 == 0 and i else "",
            "agent_name": "Pat Agent" if i % 4 == 1 else "",
            "agent_email": "pat@agency.test" if i % 4 == 1 else "",
            "profile": entry["profile"],
        }
        if not entry["policies"]:
            rows.append(base)
        for p in entry["policies"]:
            start = today + timedelta(days=p["start"])
            amount = "1000000" if p["enough"] else "500000"
            rows.append(
                {
                    **base,
                    "coverage": p["coverage"],
                    "policy_number": f"{p['coverage'][:2]}-{i}-{p['number']}",
                    "effective_date": start.isoformat(),
                    "expiration_date": (start + timedelta(days=p["term"])).isoformat(),
                    "each_occurrence": amount,
                    "general_aggregate": "2000000" if p["enough"] else "1000000",
                    "combined_single_limit": amount,
                    "el_each_accident": amount,
                    "additional_insured": "yes" if p["ai"] else "no",
                    "waiver_of_subrogation": "yes" if p["ai"] else "",
                }
            )
    return rows


def assert_no_drift(engine: Engine, day: date, context: str) -> None:
    with Session(engine) as s:
        found = list(drift(s, day=day))
        counted = count_drift(s)
    assert not counted, f"{context}: verdict_count is off: {counted}"
    assert not found, f"{context}: {[(d.vendor_id, d.fields(), d.stored, d.fresh) for d in found]}"


def apply(engine: Engine, tmp: Path, today: date, action: tuple[Any, ...], n: int) -> date:
    kind = action[0]
    if kind == "days":
        today += timedelta(days=action[1])
        with Session(engine) as s:
            roll(s, day=today, now=noon(today))
            s.commit()
    elif kind == "import":
        run_import(
            engine, write_roster(tmp / f"r{n}.csv", rows_of(action[1], today)), now=noon(today)
        )
    elif kind == "review":
        _, index, accept, p = action
        with Session(engine) as s:
            vendor = s.exec(select(Vendor).where(col(Vendor.name) == f"Vendor {index}")).first()
            if vendor is None:
                return today
            held = factory.certificate(s, vendor, received_at=noon(today), status="needs_review")
            start = today + timedelta(days=p["start"])
            factory.policy(
                s,
                held,
                coverage="general_liability",
                number=f"H-{n}",
                effective=start,
                expires=start + timedelta(days=p["term"]),
                additional_insured=p["ai"],
            )
            assert held.id is not None
            review_certificate(s, held.id, accept=accept, by="ann", now=noon(today))
            s.commit()
    elif kind == "profile":
        _, window, strict = action
        with Session(engine) as s:
            row = s.exec(
                select(RequirementProfile).where(col(RequirementProfile.name) == "low-risk")
            ).one()
            data = spec_of(row).model_dump(mode="json")
            data["expiring_within_days"] = window
            data["coverages"]["general_liability"]["additional_insured"] = strict
            saved = save_profile(s, ProfileSpec.model_validate(data), now=noon(today))
            assert saved.id is not None
            refresh_profile(s, saved.id, now=noon(today), reason="profile changed")
            s.commit()
    elif kind == "edit":
        with Session(engine) as s:
            vendor = s.exec(select(Vendor).where(col(Vendor.name) == f"Vendor {action[1]}")).first()
            if vendor is None or vendor.id is None:
                return today
            vendor.email, vendor.phone, vendor.agent_id = None, None, None
            s.add(vendor)
            s.flush()
            refresh_vendor(s, vendor.id, now=noon(today), reason="vendor edited")
            s.commit()
    return today


@settings(
    max_examples=30,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=roster, steps=st.lists(step, max_size=6))
def test_stored_equals_fresh(
    db: Engine, tmp_path: Path, first: list[dict[str, Any]], steps: list[tuple[Any, ...]]
) -> None:
    empty(db)
    load_config_profiles(db)
    today = START
    run_import(db, write_roster(tmp_path / "r.csv", rows_of(first, today)), now=noon(today))
    assert_no_drift(db, today, "after the first import")
    for n, action in enumerate(steps):
        today = apply(db, tmp_path, today, action, n)
        assert_no_drift(db, today, f"after {action[0]}")


def test_history_row_per_change(db: Engine, tmp_path: Path) -> None:
    """A status change writes one history row; a day that changes nothing writes none."""
    load_config_profiles(db)
    entry = {"vendor": 1, "profile": "low-risk", "policies": []}
    gl = {
        "coverage": "General Liability",
        "number": 1,
        "start": -300,
        "term": 340,
        "enough": True,
        "ai": True,
    }
    run_import(db, write_roster(tmp_path / "a.csv", rows_of([entry], START)), now=noon(START))
    run_import(
        db,
        write_roster(tmp_path / "b.csv", rows_of([{**entry, "policies": [gl]}], START)),
        now=noon(START),
    )
    for days in (1, 5, 30, 60):  # expiring on day 10 (window 30 before day 40), expired on 40
        with Session(db) as s:
            roll(s, day=START + timedelta(days=days), now=noon(START + timedelta(days=days)))
            s.commit()
    with Session(db) as s:
        changes = [
            (c.old_status, c.new_status)
            for c in s.exec(select(VerdictChange).order_by(col(VerdictChange.id))).all()
        ]
    assert changes == [
        (None, "missing"),
        ("missing", "compliant"),
        ("compliant", "expiring"),
        ("expiring", "expired"),
    ]
    assert_no_drift(db, START + timedelta(days=60), "after the days")
    points = [START + timedelta(days=d) for d in (0, 29, 30, 59, 60)]
    with Session(db) as s:
        history = counts_history(s, points)
    assert [max(history[d], key=lambda k: history[d][k]) for d in points] == [
        "compliant",
        "compliant",
        "expiring",
        "expiring",
        "expired",
    ]
    assert all(sum(history[d].values()) == 1 for d in points)
