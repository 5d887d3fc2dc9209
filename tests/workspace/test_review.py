"""The review desk: held certificates oldest first, fields with confidence, accept and reject
with a reason (CSRF-checked, audited, the verdict recomputed), roles, bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.app.workspace.review import lookup
from comms.models import AuditLog, Certificate
from tests.workspace.conftest import PAGE, session_csrf, sign_in


def _held(engine: Engine) -> Certificate:
    with Session(engine) as s:
        return s.exec(select(Certificate).where(Certificate.status == "needs_review")).one()


def test_lookup_reads_paths() -> None:
    data = {"insured": {"name": "Lisa"}, "policies": [{"policy_number": "A1"}]}
    assert lookup(data, "insured.name") == "Lisa"
    assert lookup(data, "policies[0].policy_number") == "A1"
    assert lookup(data, "policies[3].policy_number") is None
    assert lookup(data, "nothing.here") is None


def test_desk_lists_and_shows_a_held_certificate(seeded: Engine, app_client: TestClient) -> None:
    cert = _held(seeded)
    with Session(seeded) as s:
        row = s.get(Certificate, cert.id)
        assert row is not None
        row.extraction = {
            "insured": {"name": "Lisa Gomez, LLC"},
            "confidence": {"insured.name": 0.42, "producer.name": 0.97},
            "producer": {"name": "Damon"},
        }
        s.add(row)
        s.commit()
    sign_in(app_client)
    listing = app_client.get("/review", headers=PAGE)
    assert listing.status_code == 200 and f"/review/{cert.id}" in listing.text
    page = app_client.get(f"/review/{cert.id}", headers=PAGE)
    assert page.status_code == 200
    assert "Lisa Gomez, LLC" in page.text and "42%" in page.text and 'class="doubtful"' in page.text
    assert page.text.index("insured.name") < page.text.index("producer.name")  # doubtful first


def test_accept_changes_the_verdict_and_is_audited(seeded: Engine, app_client: TestClient) -> None:
    cert = _held(seeded)
    sign_in(app_client)
    csrf = session_csrf(app_client)
    refused = app_client.post(f"/review/{cert.id}/accept", data={"csrf": "forged"}, headers=PAGE)
    assert refused.status_code == 403
    done = app_client.post(f"/review/{cert.id}/accept", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/review"
    with Session(seeded) as s:
        assert s.get(Certificate, cert.id).status == "accepted"  # type: ignore[union-attr]
        entries = s.exec(select(AuditLog).where(AuditLog.entity == "certificate")).all()
    actions = {e.action: e for e in entries}
    assert actions["certificate.accept"].actor == "ann"
    assert actions["workspace.review"].data == {
        "before": {"status": "needs_review"},
        "after": {"status": "accepted", "reason": ""},
    }
    again = app_client.post(f"/review/{cert.id}/accept", data={"csrf": csrf}, headers=PAGE)
    assert again.status_code == 409 and "Already decided" in again.text


def test_reject_needs_a_reason(seeded: Engine, app_client: TestClient) -> None:
    cert = _held(seeded)
    sign_in(app_client)
    csrf = session_csrf(app_client)
    empty = app_client.post(
        f"/review/{cert.id}/reject", data={"csrf": csrf, "reason": "  "}, headers=PAGE
    )
    assert empty.status_code == 422 and "needs a reason" in empty.text
    long = app_client.post(
        f"/review/{cert.id}/reject", data={"csrf": csrf, "reason": "x" * 501}, headers=PAGE
    )
    assert long.status_code == 422
    done = app_client.post(
        f"/review/{cert.id}/reject",
        data={"csrf": csrf, "reason": "The insured is another company."},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with Session(seeded) as s:
        assert s.get(Certificate, cert.id).status == "rejected"  # type: ignore[union-attr]


def test_caller_is_refused_and_bad_ids_are_404(seeded: Engine, app_client: TestClient) -> None:
    cert = _held(seeded)
    sign_in(app_client, "carl")
    assert app_client.get("/review", headers=PAGE).status_code == 403
    assert (
        app_client.post(f"/review/{cert.id}/accept", data={"csrf": "x"}, headers=PAGE).status_code
        == 403
    )
    app_client.cookies.clear()
    sign_in(app_client)
    assert app_client.get("/review/abc", headers=PAGE).status_code == 404
    assert app_client.get("/review/424242", headers=PAGE).status_code == 404
