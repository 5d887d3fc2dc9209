"""A vendor's page: send a request now, pause and resume its case, edit its contact details,
the staff actions in the timeline; and the point-in-time answer before and after a renewal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.app.cli import app as cli
from comms.models import AuditLog, Case, Certificate, Delivery, Policy, Vendor
from tests.workspace.conftest import NOW, PAGE, session_csrf, sign_in


def _vendor(engine: Engine, name: str) -> Vendor:
    with Session(engine) as s:
        return s.exec(select(Vendor).where(Vendor.name == name)).one()


def test_send_a_request_now_once(roster: Engine, app_client: TestClient) -> None:
    cedar = _vendor(roster, "Cedar Plumbing")
    sign_in(app_client)
    csrf = session_csrf(app_client)
    sent = app_client.post(f"/vendors/{cedar.id}/request", data={"csrf": csrf}, headers=PAGE)
    assert sent.status_code == 200 and "deficiency notice is on its way" in sent.text
    with Session(roster) as s:
        rows = s.exec(select(Delivery).where(Delivery.vendor_id == cedar.id)).all()
        assert [r.template for r in rows] == ["deficiency_notice"]
    again = app_client.post(f"/vendors/{cedar.id}/request", data={"csrf": csrf}, headers=PAGE)
    assert again.status_code == 409
    with Session(roster) as s:
        assert len(s.exec(select(Delivery).where(Delivery.vendor_id == cedar.id)).all()) == 1
    page = app_client.get(f"/vendors/{cedar.id}", headers=PAGE).text
    assert "ann: request sent now" in page


def test_pause_resume_and_contact_edit_are_audited(roster: Engine, app_client: TestClient) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli, ["tick", "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    delta = _vendor(roster, "Delta HVAC")
    with Session(roster) as s:
        case = s.exec(select(Case).where(Case.vendor_id == delta.id)).first()
    assert case is not None and case.state in ("active", "waiting")
    sign_in(app_client)
    csrf = session_csrf(app_client)
    page = app_client.get(f"/vendors/{delta.id}", headers=PAGE).text
    assert f"/vendors/{delta.id}/cases/{case.id}/pause" in page
    r = app_client.post(f"/vendors/{delta.id}/cases/{case.id}/pause", data={"csrf": csrf})
    assert r.status_code == 200 and f"Case {case.id} paused" in r.text
    twice = app_client.post(
        f"/vendors/{delta.id}/cases/{case.id}/pause", data={"csrf": csrf}, headers=PAGE
    )
    assert twice.status_code == 409
    r = app_client.post(f"/vendors/{delta.id}/cases/{case.id}/resume", data={"csrf": csrf})
    assert r.status_code == 200 and f"Case {case.id} resumed" in r.text
    bad = app_client.post(
        f"/vendors/{delta.id}/contact",
        data={"csrf": csrf, "contact_name": "Dee", "email": "not an address", "phone": ""},
        headers=PAGE,
    )
    assert bad.status_code == 422 and "not an email address" in bad.text
    ok = app_client.post(
        f"/vendors/{delta.id}/contact",
        data={"csrf": csrf, "contact_name": "Dee Ortiz", "email": "dee@delta.example",
              "phone": "(212) 555-0142"},
    )  # fmt: skip
    assert ok.status_code == 200 and "Contact details saved" in ok.text
    with Session(roster) as s:
        v = s.get(Vendor, delta.id)
        assert v is not None and v.email == "dee@delta.example" and v.phone == "+12125550142"
        actions = [
            a.action
            for a in s.exec(select(AuditLog).where(AuditLog.actor == "ann")).all()
            if a.action.startswith(("vendor.", "case."))
        ]
    assert actions.count("vendor.contact") == 1 and "case.pause" in actions
    assert "case.resume" in actions and "vendor.case_pause" in actions
    page = app_client.get(f"/vendors/{delta.id}", headers=PAGE).text
    assert "ann: contact details edited" in page and "ann: case paused" in page
    assert "dee@delta.example" in page
    assert (
        app_client.post("/vendors/abc/contact", data={"csrf": csrf}, headers=PAGE).status_code
        == 404
    )


def test_point_in_time_before_and_after_a_renewal(roster: Engine, app_client: TestClient) -> None:
    bright = _vendor(roster, "Bright Electric Co")
    renewed_at = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    with Session(roster) as s:
        cert = Certificate(
            vendor_id=bright.id or 0, source="upload", reference="renewal-2027.pdf",
            received_at=renewed_at, status="accepted",
        )  # fmt: skip
        s.add(cert)
        s.flush()
        old = s.exec(select(Policy).where(Policy.vendor_id == bright.id)).all()
        for p in old:
            s.add(
                Policy(
                    certificate_id=cert.id or 0, vendor_id=p.vendor_id, coverage=p.coverage,
                    policy_number=f"{p.policy_number}-R", insurer=p.insurer,
                    effective_date=date(2026, 12, 20), expiration_date=date(2027, 12, 20),
                    limits=dict(p.limits), additional_insured=p.additional_insured,
                    subrogation_waived=p.subrogation_waived,
                )
            )  # fmt: skip
        s.add(
            AuditLog(action="certificate.accept", entity="certificate", entity_id=cert.id,
                     actor="ann", at=renewed_at + timedelta(minutes=5))
        )  # fmt: skip
        s.commit()
    sign_in(app_client)
    url = f"/vendors/{bright.id}/as-of"
    before = app_client.get(url, params={"date": "2026-12-01"}, headers=PAGE).text
    assert '<strong class="status-expiring">Yes</strong>' in before
    assert "HX-2231" in before and "HX-2231-R" not in before and "roster import" in before
    # after the old policies ended: covered by the renewal, uploaded, accepted by ann
    after = app_client.get(url, params={"date": "2026-12-21"}, headers=PAGE).text
    assert '<strong class="status-compliant">Yes</strong>' in after
    assert "HX-2231-R" in after and "upload renewal-2027.pdf" in after
    assert "accepted by ann on 2026-12-10" in after
    # had the renewal not been received yet (a day it was not on file), the answer is No
    with Session(roster) as s:
        c = s.exec(select(Certificate).where(Certificate.reference == "renewal-2027.pdf")).one()
        c.received_at = datetime(2026, 12, 22, 15, 0, tzinfo=UTC)
        s.add(c)
        s.commit()
    lapsed = app_client.get(url, params={"date": "2026-12-21"}, headers=PAGE).text
    assert '<strong class="status-expired">No</strong>' in lapsed
    bad = app_client.get(url, params={"date": "yesterday"}, headers=PAGE)
    assert bad.status_code == 422 and "not a date" in bad.text
    assert app_client.get("/vendors/abc/as-of", headers=PAGE).status_code == 404
    assert app_client.get("/vendors/99999/as-of", headers=PAGE).status_code == 404
    assert NOW  # the app's clock: today is the default date
    today = app_client.get(url, headers=PAGE).text
    assert "compliant on 2026-11-28" in today
