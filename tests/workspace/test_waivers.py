"""Waivers: granted on a vendor's page with a reason and an expiry date (permanent: admins
only), honoured by the verdict until they expire, listed on /waivers soonest-to-expire first,
audited; a concurrent duplicate grant gets 409 and writes nothing."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from comms.models import AuditLog, Vendor, Waiver
from comms.verdicts import vendor_verdict
from comms.waivers import WaiverConflict, WaiverRefused, grant_waiver, revoke_waiver
from tests.workspace.conftest import NOW, PAGE, Clock, session_csrf, sign_in

ZONE = __import__("zoneinfo").ZoneInfo("America/New_York")
GL_LIMIT = "limit_below_minimum|general_liability|each_occurrence"


def _vendor(engine: Engine, name: str) -> Vendor:
    with Session(engine) as s:
        return s.exec(select(Vendor).where(Vendor.name == name)).one()


def _status(engine: Engine, vendor: Vendor, day: date) -> str:
    with Session(engine) as s:
        row = s.get(Vendor, vendor.id)
        assert row is not None
        return vendor_verdict(s, row, day).status.value


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def _waive_all_of_cedar(client: TestClient, csrf: str, vendor_id: int, expires: str) -> None:
    for requirement in (
        "limit_below_minimum|general_liability|",
        "additional_insured_missing|general_liability|",
        "waiver_missing|workers_compensation|",
    ):
        r = client.post(
            f"/vendors/{vendor_id}/waivers",
            data={
                "csrf": csrf,
                "requirement": requirement,
                "reason": "Owner-approved exception for the 2026 season",
                "expires_on": expires,
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text


def test_a_waiver_changes_the_verdict_until_it_expires(
    roster: Engine, app_client: TestClient, clock: Clock
) -> None:
    cedar = _vendor(roster, "Cedar Plumbing")
    assert cedar.id is not None
    today = NOW.date()
    assert _status(roster, cedar, today) == "non_compliant"
    sign_in(app_client)
    csrf = session_csrf(app_client)
    _waive_all_of_cedar(app_client, csrf, cedar.id, "2026-12-15")
    assert _status(roster, cedar, today) == "compliant"
    page = app_client.get(f"/vendors/{cedar.id}", headers=PAGE)
    assert "Owner-approved exception" in page.text and "Set aside by a waiver" in page.text
    assert "badge status-compliant" in page.text
    with Session(roster) as s:
        grants = s.exec(select(AuditLog).where(AuditLog.action == "waiver.grant")).all()
    assert len(grants) == 3 and {g.actor for g in grants} == {"ann"}
    assert all(g.entity == "vendor" and g.entity_id == cedar.id for g in grants)
    assert grants[0].data["after"]["expires_on"] == "2026-12-15"
    # the clock moves past the expiry date: the verdict no longer honours the waivers
    clock.at = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
    sign_in(app_client)  # the session of two weeks ago has ended
    page = app_client.get(f"/vendors/{cedar.id}", headers=PAGE)
    assert "badge status-non_compliant" in page.text and "expired" in page.text
    listing = app_client.get("/waivers", headers=PAGE)
    assert listing.status_code == 200 and "0 live" in listing.text


def test_only_admins_grant_permanent_waivers(roster: Engine, app_client: TestClient) -> None:
    cedar = _vendor(roster, "Cedar Plumbing")
    sign_in(app_client)
    form = {
        "csrf": session_csrf(app_client),
        "requirement": GL_LIMIT,
        "reason": "long-standing contract",
        "permanent": "yes",
    }
    refused = app_client.post(f"/vendors/{cedar.id}/waivers", data=form, headers=PAGE)
    assert refused.status_code == 403 and "only an admin" in refused.text
    assert _count(roster, Waiver) == 0
    app_client.post("/logout", data={"csrf": form["csrf"]})
    sign_in(app_client, "ada")
    form["csrf"] = session_csrf(app_client)
    done = app_client.post(f"/vendors/{cedar.id}/waivers", data=form, follow_redirects=False)
    assert done.status_code == 303
    with Session(roster) as s:
        waiver = s.exec(select(Waiver)).one()
    assert waiver.expires_on is None and waiver.granted_by == "ada"


def test_bad_grants_are_refused_readably(roster: Engine, app_client: TestClient) -> None:
    cedar = _vendor(roster, "Cedar Plumbing")
    sign_in(app_client)
    csrf = session_csrf(app_client)
    base = {"csrf": csrf, "requirement": GL_LIMIT, "reason": "why", "expires_on": "2027-01-01"}
    cases = [
        ({**base, "expires_on": "next tuesday"}, 422, "not a date"),
        ({**base, "expires_on": "2026-11-01"}, 422, "not after today"),
        ({**base, "reason": "  "}, 422, "needs a reason"),
        ({**base, "requirement": "nonsense"}, 422, "unknown requirement"),
        ({**base, "csrf": "forged"}, 403, "security token"),
    ]
    for form, status, words in cases:
        r = app_client.post(f"/vendors/{cedar.id}/waivers", data=form, headers=PAGE)
        assert r.status_code == status and words in r.text, (form, r.status_code)
        assert "Traceback" not in r.text
    assert app_client.post("/vendors/abc/waivers", data=base, headers=PAGE).status_code == 404
    assert _count(roster, Waiver) == 0
    # the same requirement twice: the second gets 409 and writes nothing
    first = app_client.post(f"/vendors/{cedar.id}/waivers", data=base, follow_redirects=False)
    assert first.status_code == 303
    audits = _count(roster, AuditLog)
    again = app_client.post(f"/vendors/{cedar.id}/waivers", data=base, headers=PAGE)
    assert again.status_code == 409 and "already has a live waiver" in again.text
    assert _count(roster, Waiver) == 1 and _count(roster, AuditLog) == audits


def test_waivers_page_lists_the_soonest_to_expire_first_and_revokes(
    roster: Engine, app_client: TestClient
) -> None:
    cedar = _vendor(roster, "Cedar Plumbing")
    delta = _vendor(roster, "Delta HVAC")
    with Session(roster) as s:
        for vendor, code, cov, days in (
            (cedar, "waiver_missing", "workers_compensation", 200),
            (delta, "expired", "general_liability", 10),
            (cedar, "additional_insured_missing", "general_liability", 60),
        ):
            grant_waiver(
                s, vendor_id=vendor.id or 0, code=code, coverage=cov, reason=f"r{days}",
                by="ann", admin=False, expires_on=NOW.date() + timedelta(days=days),
                now=NOW, zone=ZONE,
            )  # fmt: skip
    sign_in(app_client)
    page = app_client.get("/waivers", headers=PAGE).text
    assert page.index("r10") < page.index("r60") < page.index("r200")
    assert "3 live" in page
    with Session(roster) as s:
        soonest = s.exec(select(Waiver).where(Waiver.reason == "r10")).one()
    csrf = session_csrf(app_client)
    r = app_client.post(
        f"/waivers/{soonest.id}/revoke", data={"csrf": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    again = app_client.post(f"/waivers/{soonest.id}/revoke", data={"csrf": csrf}, headers=PAGE)
    assert again.status_code == 409
    page = app_client.get("/waivers", headers=PAGE).text
    assert "2 live" in page and "revoked by ann" in page
    assert page.index("r60") < page.index("r200") < page.index("r10")


def test_a_concurrent_duplicate_grant_writes_nothing(roster: Engine) -> None:
    """Two staff grant the same waiver at once: one wins, the other gets WaiverConflict, and
    exactly one waiver row and one audit entry exist (SQLite and PostgreSQL)."""
    cedar = _vendor(roster, "Cedar Plumbing")
    audits = _count(roster, AuditLog)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def grant(who: str) -> None:
        with Session(roster, expire_on_commit=False) as s:
            barrier.wait()
            try:
                grant_waiver(
                    s, vendor_id=cedar.id or 0, code="limit_below_minimum",
                    coverage="general_liability", reason="race", by=who, admin=False,
                    expires_on=date(2027, 1, 1), now=NOW, zone=ZONE,
                )  # fmt: skip
                outcomes.append("granted")
            except WaiverConflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=grant, args=(n,)) for n in ("ann", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict", "granted"]
    assert _count(roster, Waiver) == 1 and _count(roster, AuditLog) == audits + 1


def test_revoked_waiver_still_counts_for_the_days_before(roster: Engine) -> None:
    delta = _vendor(roster, "Delta HVAC")
    with Session(roster, expire_on_commit=False) as s:
        ids = []
        for cov in ("general_liability", "automobile_liability", "workers_compensation"):
            w = grant_waiver(
                s, vendor_id=delta.id or 0, code="expired", coverage=cov, reason="storm",
                by="ann", admin=False, expires_on=date(2027, 3, 1), now=NOW, zone=ZONE,
            )  # fmt: skip
            ids.append(w.id or 0)
        assert _status(roster, delta, NOW.date()) == "compliant"
        later = NOW + timedelta(days=5)
        revoke_waiver(s, ids[0], by="ada", now=later, zone=ZONE)
        with pytest.raises(WaiverConflict):
            revoke_waiver(s, ids[0], by="ada", now=later, zone=ZONE)
        with pytest.raises(WaiverRefused):
            revoke_waiver(s, 99999, by="ada", now=later, zone=ZONE)
    assert _status(roster, delta, NOW.date() + timedelta(days=4)) == "compliant"
    assert _status(roster, delta, NOW.date() + timedelta(days=5)) == "expired"
