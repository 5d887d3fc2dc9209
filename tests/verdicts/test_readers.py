"""One-vendor readers of today's verdict read the stored one (`verdict_on`): a stored row
altered behind the service's back shows through them while it holds; on a day past its
`changes_on`, or when the session changed the vendor's records, they compute from the records.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.compliance import Status
from comms.models import Policy, Vendor, VendorVerdict
from comms.settings import get_settings
from comms.stored_verdicts import verdict_on
from comms.verdicts import vendor_verdict
from telephony.actions import request_template
from tests.verdicts.conftest import (
    MARK,
    alter_stored,
    load_config_profiles,
    noon,
    run_import,
    write_roster,
)

NOW = noon(date(2026, 12, 3))


def _roster(tmp_path: Path) -> Path:
    row: dict[str, Any] = {
        "vendor_name": "Vendor 1",
        "vendor_email": "ops1@vendor1.example",
        "agent_name": "Agent 1",
        "agent_email": "agent1@agency.example",
        "profile": "standard",
        "coverage": "General Liability",
        "policy_number": "GL-1",
        "effective_date": "2026-01-01",
        "expiration_date": "2027-06-30",
        "each_occurrence": "1000000",
        "general_aggregate": "2000000",
    }
    return write_roster(tmp_path / "roster.csv", [row])


def test_readers_of_today_take_the_stored_verdict(db: Engine, tmp_path: Path) -> None:
    load_config_profiles(db)
    run_import(db, _roster(tmp_path), now=NOW)
    with Session(db) as s:
        vendor = s.exec(select(Vendor)).one()
        assert vendor.id is not None
        vid = vendor.id
        stored = s.get(VendorVerdict, vid)
        assert stored is not None and stored.changes_on is not None
        changes_on = stored.changes_on
        fresh = vendor_verdict(s, vendor, NOW.date())
        assert fresh.status != Status.MISSING
        assert verdict_on(s, vid, NOW.date()) == fresh
    alter_stored(db, vid)
    settings = get_settings()
    with Session(db) as s:
        again = s.get(Vendor, vid)
        assert again is not None
        vendor = again
        today = verdict_on(s, vid, NOW.date())
        assert today.status == Status.MISSING
        assert [d.message for d in today.deficiencies] == [MARK]
        assert request_template(s, vendor, settings, NOW) == "certificate_request"
        # the records are as before: another day, or past changes_on, is computed from them
        assert vendor_verdict(s, vendor, NOW.date()) == fresh
        yesterday = NOW.date() - timedelta(days=1)
        assert verdict_on(s, vid, yesterday) == vendor_verdict(s, vendor, yesterday)
        for day in (changes_on, date(2027, 7, 1)):  # past changes_on; past the expiration
            computed = vendor_verdict(s, vendor, day)
            assert verdict_on(s, vid, day) == computed
            assert MARK not in str(computed.deficiencies)
        assert computed.status == Status.EXPIRED
        assert request_template(s, vendor, settings, noon(date(2027, 7, 1))) == "renewal_request"


def test_a_session_that_changed_the_records_reads_them(db: Engine, tmp_path: Path) -> None:
    load_config_profiles(db)
    run_import(db, _roster(tmp_path), now=NOW)
    with Session(db) as s:
        vendor = s.exec(select(Vendor)).one()
        assert vendor.id is not None
        policy = s.exec(select(Policy).where(Policy.vendor_id == vendor.id)).one()
        before = verdict_on(s, vendor.id, NOW.date())
        policy.expiration_date = NOW.date() - timedelta(days=1)
        s.add(policy)
        # not committed: the stored verdict is as before, the records expired
        assert verdict_on(s, vendor.id, NOW.date()).status == Status.EXPIRED
        s.rollback()
        assert verdict_on(s, vendor.id, NOW.date()) == before
