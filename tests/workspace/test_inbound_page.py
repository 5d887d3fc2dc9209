"""`/inbound`: the review list and quarantine, with reasons; the dashboard counts the list."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from inbound.models import InboundEmail
from tests.workspace.conftest import NOW, PAGE, sign_in


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
