"""`/inbound`: the review list and quarantine, with reasons; the dashboard counts the list."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from inbound.models import InboundEmail
from tests.workspace.conftest import NOW, PAGE, session_csrf, sign_in


def _message(n: int, status: str, **kw: object) -> InboundEmail:
    return InboundEmail(
        dedupe_key=f"k{n}",
        source="file",
        raw_sha256="0" * 64,
        raw=b"raw",
        status=status,
        received_at=NOW,
        **kw,  # type: ignore[arg-type]
    )


def test_unmatched_and_quarantined_with_reasons(roster: Engine, app_client: TestClient) -> None:
    with Session(roster) as s:
        s.add(
            _message(
                1,
                "review",
                sender="someone@unknown.example",
                subject="our COI",
                classification="unmatched",
            )
        )
        s.add(_message(2, "review", subject="already seen", reviewed_at=NOW, reviewed_by="ann"))
        s.add(
            _message(
                3,
                "quarantined",
                subject="broken",
                quarantine_reason="pdf_encrypted: the PDF is encrypted",
            )
        )
        s.add(_message(4, "processed", subject="fine"))
        s.commit()
    sign_in(app_client)
    page = app_client.get("/inbound", headers=PAGE)
    assert page.status_code == 200
    assert "our COI" in page.text and "On the review list (1)" in page.text
    assert "already seen" not in page.text and "fine" not in page.text
    assert "Quarantined (1)" in page.text and "the PDF is encrypted" in page.text
    dashboard = app_client.get("/", headers=PAGE).text
    assert '<span class="big">1</span><span>unmatched inbound messages' in dashboard
    app_client.cookies.clear()
    sign_in(app_client, "carl")
    assert app_client.get("/inbound", headers=PAGE).status_code == 403


def _stored_unmatched(engine: Engine) -> int:
    """A real reply with the sample certificate from an address nobody knows: on the list."""
    from tests.inbound.conftest import ingest, pdf, reply

    raw = reply(sender="stranger@nowhere.example", attachments=[pdf()])
    result = ingest(engine, raw, now=NOW)
    assert result.status == "review", result
    return result.inbound_id


def test_an_unmatched_message_assigned_runs_through_the_pipeline(
    roster: Engine, app_client: TestClient
) -> None:
    from sqlmodel import select

    from comms.models import AuditLog, Certificate, Vendor

    inbound_id = _stored_unmatched(roster)
    sign_in(app_client)
    csrf = session_csrf(app_client)
    page = app_client.get("/inbound", headers=PAGE).text
    assert f'action="/inbound/{inbound_id}/assign"' in page
    bad = app_client.post(
        f"/inbound/{inbound_id}/assign", data={"csrf": csrf, "vendor": "Nobody Inc"}, headers=PAGE
    )
    assert bad.status_code == 422 and "matches no vendor" in bad.text
    done = app_client.post(
        f"/inbound/{inbound_id}/assign",
        data={"csrf": csrf, "vendor": "Acme Roofing LLC"},
        headers=PAGE,
    )
    assert done.status_code == 200 and f"Message {inbound_id} assigned to Acme Roofing LLC" in (
        done.text
    )
    with Session(roster) as s:
        row = s.get(InboundEmail, inbound_id)
        vendor = s.exec(select(Vendor).where(Vendor.name == "Acme Roofing LLC")).one()
        certs = s.exec(select(Certificate).where(Certificate.inbound_message_id == inbound_id))
        entry = s.exec(select(AuditLog).where(AuditLog.action == "inbound.assign")).one()
        assert row is not None and row.status == "processed" and row.vendor_id == vendor.id
        assert [c.vendor_id for c in certs.all()] == [vendor.id]
        assert entry.actor == "ann" and entry.entity_id == vendor.id
    again = app_client.post(f"/inbound/{inbound_id}/dismiss", data={"csrf": csrf}, headers=PAGE)
    assert again.status_code == 409


def test_retry_and_dismiss(roster: Engine, app_client: TestClient) -> None:
    with Session(roster) as s:
        s.add(_message(5, "quarantined", subject="broken", quarantine_reason="internal error"))
        s.add(_message(6, "review", subject="spam", classification="unmatched"))
        s.commit()
        ids = {m.subject: m.id for m in s.exec(__import__("sqlmodel").select(InboundEmail)).all()}
    sign_in(app_client)
    csrf = session_csrf(app_client)
    r = app_client.post(f"/inbound/{ids['broken']}/retry", data={"csrf": csrf}, headers=PAGE)
    assert r.status_code == 200 and "retried" in r.text
    d = app_client.post(f"/inbound/{ids['spam']}/dismiss", data={"csrf": csrf}, headers=PAGE)
    assert d.status_code == 200 and "dismissed" in d.text
    page = app_client.get("/inbound", headers=PAGE).text
    assert "spam" not in page
    assert (
        app_client.post("/inbound/abc/retry", data={"csrf": csrf}, headers=PAGE).status_code == 404
    )
    forged = app_client.post(f"/inbound/{ids['spam']}/retry", data={"csrf": "x"}, headers=PAGE)
    assert forged.status_code == 403
