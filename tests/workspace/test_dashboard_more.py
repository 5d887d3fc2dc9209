"""The dashboard's breakdown by profile, unreachable vendors and the 90-day trend."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.models import Case, Vendor
from tests.workspace.conftest import NOW, PAGE, sign_in


def test_by_profile_and_unreachable_link_to_filtered_lists(
    roster: Engine, app_client: TestClient
) -> None:
    with Session(roster) as s:
        delta = s.exec(select(Vendor).where(Vendor.name == "Delta HVAC")).one()
        s.add(
            Case(
                vendor_id=delta.id or 0, trigger="expired", workflow="expired", state="active",
                data={"unreachable": "email_1"}, created_at=NOW,
            )
        )  # fmt: skip
        s.commit()
    sign_in(app_client)
    page = app_client.get("/", headers=PAGE).text
    row = re.search(r'<tr data-profile="standard">(.*?)</tr>', page, re.S)
    assert row, page
    assert 'href="/vendors?profile=standard&amp;status=compliant">1</a>' in row.group(1)
    assert 'href="/vendors?profile=standard">5</a>' in row.group(1)
    assert '<tr data-profile="low-risk">' in page
    card = re.search(r'data-number="unreachable">\s*<span class="big">(\d+)</span>', page)
    assert card and card.group(1) == "1"
    listed = app_client.get("/vendors?unreachable=1", headers=PAGE).text
    assert "Delta HVAC" in listed and "Cedar Plumbing" not in listed
    filtered = app_client.get("/vendors?profile=standard&status=compliant", headers=PAGE).text
    assert "Acme Roofing LLC" in filtered and "Cedar Plumbing" not in filtered


def test_trend_has_a_point_a_week_for_90_days(roster: Engine, app_client: TestClient) -> None:
    sign_in(app_client)
    fragment = app_client.get("/dashboard/trend", headers={"hx-request": "true"}).text
    days = re.findall(r'<td data-day="([0-9-]+)">([^<]+)</td>', fragment)
    assert len(days) == 14 and days[-1] == ("2026-11-28", "50%")
    assert days[0][0] == "2026-08-29"
    page = app_client.get("/dashboard/trend", headers=PAGE)
    assert page.status_code == 200 and "<h1>The last 90 days</h1>" in page.text
