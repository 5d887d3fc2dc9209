"""A vendor's page shows its stored verdict while it holds (a stored row altered behind the
service's back shows through), and the verdict computed from its records on a day past the
stored one's `changes_on`."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.models import Vendor, VendorVerdict
from comms.settings import get_settings
from tests.verdicts.conftest import MARK, alter_stored
from tests.workspace.conftest import PAGE, Clock, sign_in


def test_the_vendor_page_reads_the_stored_verdict(
    roster: Engine, app_client: TestClient, clock: Clock
) -> None:
    with Session(roster) as s:
        acme = s.exec(select(Vendor).where(Vendor.name == "Acme Roofing LLC")).one()
        assert acme.id is not None
        stored = s.get(VendorVerdict, acme.id)
        assert stored is not None and stored.changes_on is not None
        status, changes_on = stored.status, stored.changes_on
    assert status != "missing"
    sign_in(app_client)
    before = app_client.get(f"/vendors/{acme.id}", headers=PAGE).text
    assert f"status-{status}" in before and MARK not in before
    alter_stored(roster, acme.id)
    page = app_client.get(f"/vendors/{acme.id}", headers=PAGE).text
    assert "status-missing" in page and MARK in page
    clock.at = datetime.combine(changes_on, time(12), tzinfo=get_settings().zone)
    clock.at += timedelta(days=1)
    later = app_client.get(f"/vendors/{acme.id}", headers=PAGE).text
    assert "status-missing" not in later and MARK not in later
