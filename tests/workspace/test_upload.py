"""Uploading a certificate on a vendor's page: a PDF is read and recorded (held for review
when doubtful); anything that is not a PDF, or too large, gets a readable 422 and writes
nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from comms.models import AuditLog, Certificate, Vendor
from tests.workspace.conftest import PAGE, REPO, session_csrf, sign_in

SAMPLE = REPO / "tests" / "samples" / "acord25" / "acord_25_2016_03_sample.pdf"


def _certs(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(Certificate)).one())


def test_upload_a_pdf_or_be_told_why_not(roster: Engine, app_client: TestClient) -> None:
    with Session(roster) as s:
        acme = s.exec(select(Vendor).where(Vendor.name == "Acme Roofing LLC")).one()
    sign_in(app_client)
    csrf = session_csrf(app_client)
    before = _certs(roster)
    url = f"/vendors/{acme.id}/certificates"
    not_pdf = app_client.post(
        url,
        data={"csrf": csrf},
        files={"document": ("coi.pdf", b"GIF89a not a pdf at all", "application/pdf")},
        headers=PAGE,
    )
    assert not_pdf.status_code == 422 and "is not a PDF" in not_pdf.text
    assert "Traceback" not in not_pdf.text
    missing = app_client.post(url, data={"csrf": csrf}, headers=PAGE)
    assert missing.status_code == 422 and "Choose a PDF" in missing.text
    forged = app_client.post(
        url, data={"csrf": "nope"}, files={"document": ("a.pdf", b"%PDF-1.4", "application/pdf")},
        headers=PAGE,
    )  # fmt: skip
    assert forged.status_code == 403
    assert _certs(roster) == before
    done = app_client.post(
        url,
        data={"csrf": csrf},
        files={"document": ("acme-2027.pdf", SAMPLE.read_bytes(), "application/pdf")},
        headers=PAGE,
    )
    assert done.status_code == 200, done.text
    assert "held for review" in done.text  # the sample's insured is not Acme Roofing
    with Session(roster) as s:
        cert = s.exec(select(Certificate).where(Certificate.reference == "acme-2027.pdf")).one()
        assert cert.source == "upload" and cert.status == "needs_review"
        entry = s.exec(select(AuditLog).where(AuditLog.action == "certificate.upload")).one()
        assert entry.actor == "ann" and entry.entity_id == acme.id
    again = app_client.post(
        url,
        data={"csrf": csrf},
        files={"document": ("again.pdf", SAMPLE.read_bytes(), "application/pdf")},
        headers=PAGE,
    )
    assert "already on file" in again.text and _certs(roster) == before + 1
