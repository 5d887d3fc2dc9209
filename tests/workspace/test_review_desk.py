"""The review desk beyond accept: the requirement checklist with the certificate counted, a
field corrected (the checklist follows at once), a failed line approved as a waiver, a
rejection emailed to the sender in their thread (the page and `comms certificates review
--reject --reason`), who else has the certificate open, and a decision taken only once."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms.app.cli import app as cli
from comms.models import AuditLog, Certificate, Delivery, Policy, Vendor, Waiver
from inbound.models import InboundEmail
from tests.workspace.conftest import NOW, PAGE, session_csrf, sign_in

SENDER = "pat@harbor-ins.example"
MESSAGE_ID = "<renewal-1234@harbor-ins.example>"


def _prepare(engine: Engine) -> int:
    """The seeded held certificate: from an email, with one short general liability limit."""
    with Session(engine) as s:
        cert = s.exec(select(Certificate).where(Certificate.status == "needs_review")).one()
        message = InboundEmail(
            dedupe_key="test-1",
            source="file",
            message_id=MESSAGE_ID,
            raw_sha256="0" * 64,
            raw=b"From: pat@harbor-ins.example\r\n\r\nattached",
            status="processed",
            sender=SENDER,
            subject="Acme Roofing renewal",
            vendor_id=cert.vendor_id,
        )
        s.add(message)
        s.flush()
        cert.inbound_message_id = message.id
        cert.extraction = {
            "insured": {"name": "Acme Roofing LLC"},
            "policies": [
                {
                    "coverage": "general_liability",
                    "policy_number": "GL-77",
                    "effective": "2026-11-01",
                    "expiration": "2027-11-01",
                    "limits": {"each_occurrence": 500000, "general_aggregate": 2000000},
                    "additional_insured": True,
                }
            ],
            "confidence": {"policies[0].limits.each_occurrence": 0.4, "insured.name": 0.99},
        }
        cert.doubtful_fields = ["policies[0].limits.each_occurrence"]
        s.add(cert)
        s.add(
            Policy(
                certificate_id=cert.id or 0,
                vendor_id=cert.vendor_id,
                coverage="general_liability",
                policy_number="GL-77",
                effective_date=date(2026, 11, 1),
                expiration_date=date(2027, 11, 1),
                limits={"each_occurrence": 500000, "general_aggregate": 2000000},
                additional_insured=True,
            )
        )
        s.commit()
        return cert.id or 0


def _line(page: str, label_start: str) -> str:
    found = re.search(r'<tr class="check-([a-z-]+)">\s*<td>' + re.escape(label_start), page, re.S)
    assert found, label_start
    return found.group(1)


LIMIT_LINE = "General liability: each-occurrence limit"


def test_checklist_correction_and_approval(seeded: Engine, app_client: TestClient) -> None:
    cert_id = _prepare(seeded)
    sign_in(app_client)
    csrf = session_csrf(app_client)
    page = app_client.get(f"/review/{cert_id}", headers=PAGE).text
    assert _line(page, LIMIT_LINE) == "fail" and "$500,000" in page
    assert 'id="edit-field"' in page and "e edit a field" in page
    bad = app_client.post(
        f"/review/{cert_id}/field",
        data={"csrf": csrf, "path": "policies[0].limits.each_occurrence", "value": "lots"},
        headers=PAGE,
    )
    assert bad.status_code == 422 and "not an amount" in bad.text
    fixed = app_client.post(
        f"/review/{cert_id}/field",
        data={"csrf": csrf, "path": "policies[0].limits.each_occurrence", "value": "1,000,000"},
        follow_redirects=False,
    )
    assert fixed.status_code == 303
    page = app_client.get(f"/review/{cert_id}", headers=PAGE).text
    assert _line(page, LIMIT_LINE) == "pass"
    with Session(seeded) as s:
        policy = s.exec(select(Policy).where(Policy.certificate_id == cert_id)).one()
        assert policy.limits["each_occurrence"] == 1_000_000
        entry = s.exec(select(AuditLog).where(AuditLog.action == "certificate.correct")).one()
        assert entry.actor == "ann" and entry.data["before"] == 500000
    # put it back short, then approve the failed line: that is a waiver of it
    app_client.post(
        f"/review/{cert_id}/field",
        data={"csrf": csrf, "path": "policies[0].limits.each_occurrence", "value": "500000"},
    )
    approve = app_client.post(
        f"/review/{cert_id}/approve",
        data={
            "csrf": csrf,
            "requirement": "limit_below_minimum|general_liability|each_occurrence",
            "expires_on": "2027-11-01",
        },
        follow_redirects=False,
    )
    assert approve.status_code == 303
    page = app_client.get(f"/review/{cert_id}", headers=PAGE).text
    assert _line(page, LIMIT_LINE) == "waived"
    with Session(seeded) as s:
        waiver = s.exec(select(Waiver)).one()
    assert waiver.expires_on == date(2027, 11, 1) and f"certificate {cert_id}" in waiver.reason


def test_rejection_is_emailed_to_the_sender_in_the_thread(
    seeded: Engine, app_client: TestClient
) -> None:
    cert_id = _prepare(seeded)
    sign_in(app_client)
    csrf = session_csrf(app_client)
    done = app_client.post(
        f"/review/{cert_id}/reject",
        data={"csrf": csrf, "reason": "The certificate holder is not us."},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with Session(seeded) as s:
        notice = s.exec(select(Delivery).where(Delivery.template == "certificate_rejected")).one()
    assert notice.recipient == SENDER and notice.subject == "Re: Acme Roofing renewal"
    assert notice.in_reply_to == MESSAGE_ID
    assert "The certificate holder is not us." in (notice.body_text or "")
    # a second decision on the same certificate: 409, nothing written
    again = app_client.post(f"/review/{cert_id}/accept", data={"csrf": csrf}, headers=PAGE)
    assert again.status_code == 409
    with Session(seeded) as s:
        assert s.get(Certificate, cert_id).status == "rejected"  # type: ignore[union-attr]


def test_cli_reject_with_a_reason_sends_the_notice(seeded: Engine) -> None:
    cert_id = _prepare(seeded)
    result = CliRunner().invoke(
        cli,
        [
            "certificates", "review", str(cert_id), "--reject", "--by", "kim",
            "--reason", "Wrong insured name.", "--now", NOW.isoformat(),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "rejection notice to pat@harbor-ins.example" in result.output
    with Session(seeded) as s:
        notice = s.exec(select(Delivery).where(Delivery.template == "certificate_rejected")).one()
    assert notice.in_reply_to == MESSAGE_ID and "Wrong insured name." in (notice.body_text or "")


def test_who_has_it_open(seeded: Engine, app_client: TestClient) -> None:
    cert_id = _prepare(seeded)
    sign_in(app_client, "ann")
    assert "No one else has it open" in app_client.get(f"/review/{cert_id}", headers=PAGE).text
    other = TestClient(app_client.app, base_url="http://127.0.0.1")
    sign_in(other, "ada")
    page = other.get(f"/review/{cert_id}", headers=PAGE).text
    assert "Also open by ann." in page
    fragment = app_client.get(f"/review/{cert_id}/viewers", headers={"hx-request": "true"})
    assert "Also open by ada." in fragment.text
    with Session(seeded) as s:
        vendor = s.exec(select(Vendor).where(Vendor.name == "Acme Roofing LLC")).one()
    assert vendor.id is not None
