"""A vendor's stored-verdict changes in its timeline: in words, in the organization's zone,
newest first, between the other entries."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.models import Vendor, VerdictChange
from comms.settings import get_settings
from comms.stored_verdicts import roll
from tests.workspace.conftest import NOW, PAGE, Clock, session_csrf, sign_in

LATER = NOW + timedelta(days=33)  # Acme's policies end 2027-01-15: within 30 days then


def test_status_change_appears_in_the_timeline_in_order(
    roster: Engine, app_client: TestClient, clock: Clock
) -> None:
    with Session(roster) as s:
        acme = s.exec(select(Vendor).where(Vendor.name == "Acme Roofing LLC")).one()
        result = roll(s, day=LATER.date(), now=LATER)
        s.commit()
        changes = s.exec(
            select(VerdictChange)
            .where(VerdictChange.vendor_id == acme.id)
            .order_by(col(VerdictChange.id))
        ).all()
    assert result.changes >= 1
    assert [(c.old_status, c.new_status) for c in changes] == [
        (None, "compliant"),
        ("compliant", "expiring"),
    ]
    clock.at = LATER + timedelta(hours=2)
    sign_in(app_client)
    saved = app_client.post(
        f"/vendors/{acme.id}/contact",
        data={"csrf": session_csrf(app_client), "contact_name": "Ana Ruiz",
              "email": "ana@acmeroofing.example", "phone": "(212) 555-0142"},
    )  # fmt: skip
    assert saved.status_code == 200, saved.text
    page = app_client.get(f"/vendors/{acme.id}", headers=PAGE).text
    edited = page.index("ann: contact details edited")
    changed = page.index("Status changed from compliant to expiring")
    first = page.index("Status set to compliant")
    assert edited < changed < first  # newest first, interleaved with the staff action
    zone = ZoneInfo(str(get_settings().zone))
    shown = LATER.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    assert shown in page[edited:first]
    assert "daily roll" in page[changed:first]
