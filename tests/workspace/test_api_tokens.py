"""The staff JSON API accepts a signed-in session (unsafe methods with the CSRF header) or a
per-staff API token made and revoked on /account; sessions record when they were last seen."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.models import AuditLog
from comms.staff.models import StaffApiToken, StaffSession
from tests.workspace.conftest import PAGE, Clock, session_csrf, sign_in


def test_a_per_staff_token_works_until_revoked(roster: Engine, app_client: TestClient) -> None:
    sign_in(app_client, "carl")
    csrf = session_csrf(app_client)
    refused = app_client.post("/account/tokens", data={"csrf": csrf, "label": " "}, headers=PAGE)
    assert refused.status_code == 422
    made = app_client.post(
        "/account/tokens", data={"csrf": csrf, "label": "call script"}, headers=PAGE
    )
    assert made.status_code == 201
    found = re.search(r'<pre id="new-token">(coi_[^<]+)</pre>', made.text)
    assert found
    token = found.group(1)
    api = TestClient(app_client.app, base_url="http://127.0.0.1")
    ok = api.get("/api/tasks", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and isinstance(ok.json(), list)
    wrong = api.get("/api/tasks", headers={"Authorization": "Bearer coi_not-a-token"})
    assert wrong.status_code == 401
    with Session(roster) as s:
        row = s.exec(select(StaffApiToken)).one()
        assert row.last_used_at is not None and token not in row.token_sha256
        entry = s.exec(select(AuditLog).where(AuditLog.action == "staff.token_create")).one()
        assert entry.actor == "carl" and entry.data["after"]["label"] == "call script"
    page = app_client.get("/account", headers=PAGE).text
    assert "call script" in page and token not in page  # shown once
    gone = app_client.post(f"/account/tokens/{row.id}/revoke", data={"csrf": csrf})
    assert gone.status_code == 200
    assert api.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    again = app_client.post(f"/account/tokens/{row.id}/revoke", data={"csrf": csrf}, headers=PAGE)
    assert again.status_code == 409
    # another staff member cannot revoke carl's token
    other = TestClient(app_client.app, base_url="http://127.0.0.1")
    sign_in(other, "ann")
    theirs = other.post(
        f"/account/tokens/{row.id}/revoke", data={"csrf": session_csrf(other)}, headers=PAGE
    )
    assert theirs.status_code == 404


def test_the_api_accepts_the_session(roster: Engine, app_client: TestClient) -> None:
    assert app_client.get("/api/tasks").status_code == 401
    sign_in(app_client, "carl")
    assert app_client.get("/api/tasks").status_code == 200
    no_csrf = app_client.post("/api/tasks/1/claim", json={})
    assert no_csrf.status_code == 403
    with_csrf = app_client.post(
        "/api/tasks/1/claim", json={}, headers={"X-CSRF-Token": session_csrf(app_client)}
    )
    assert with_csrf.status_code in (404, 409, 422)  # past the guard: there is no task 1


def test_last_seen_is_recorded_and_shown_to_admins(
    roster: Engine, app_client: TestClient, clock: Clock
) -> None:
    sign_in(app_client, "ann")
    with Session(roster) as s:
        first = s.exec(select(StaffSession)).one().last_seen_at
    clock.at = clock.at + timedelta(minutes=5)
    app_client.get("/vendors", headers=PAGE)
    with Session(roster) as s:
        assert s.exec(select(StaffSession)).one().last_seen_at == first + timedelta(minutes=5)
    assert app_client.get("/staff", headers=PAGE).status_code == 403
    admin = TestClient(app_client.app, base_url="http://127.0.0.1")
    sign_in(admin, "ada")
    page = admin.get("/staff", headers=PAGE).text
    assert "ann" in page and "carl" in page and "2026-11-28 12:05" in page
