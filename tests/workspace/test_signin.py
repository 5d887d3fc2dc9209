"""Sign-in, sessions, CSRF, roles and bad input over plain HTTP: the right status and a
readable page, never a traceback."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms.app.cli import app as cli
from comms.app.web import create_app
from comms.models import AuditLog
from comms.settings import get_settings, reset_settings_cache
from comms.staff.accounts import disable_staff
from tests.workspace.conftest import NOW, PAGE, PASSWORD, Clock, login_token, session_csrf, sign_in


def _readable(response, status: int, words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    assert words in response.text
    assert "Traceback" not in response.text and 'File "' not in response.text


def _actions(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return [a.action for a in s.exec(select(AuditLog).order_by(AuditLog.id)).all()]  # type: ignore[arg-type]


def test_pages_need_a_session(app_client: TestClient) -> None:
    page = app_client.get("/vendors?q=x", headers=PAGE, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/vendors%3Fq%3Dx"
    htmx = app_client.get("/dashboard/numbers", headers={"hx-request": "true", **PAGE})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/login"
    assert app_client.get("/events").status_code == 401


def test_sign_in_sets_a_safe_cookie_and_sign_out_revokes_it(
    app_client: TestClient, roster: Engine
) -> None:
    token = login_token(app_client)
    response = app_client.post(
        "/login",
        data={"name": "ann", "password": PASSWORD, "csrf": token, "next": "/vendors"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/vendors"
    cookie = response.headers["set-cookie"]
    assert "comms_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # COMMS_PUBLIC_URL is http here
    stolen = app_client.cookies.get("comms_session")
    _readable(app_client.get("/", headers=PAGE), 200, "Compliance on")
    csrf = session_csrf(app_client)
    out = app_client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    # the old cookie, replayed, opens nothing: the session is revoked on the server
    app_client.cookies.set("comms_session", stolen)
    assert app_client.get("/", headers=PAGE, follow_redirects=False).status_code == 303
    assert _actions(roster)[-2:] == ["staff.sign_in", "staff.sign_out"]


def test_next_never_leaves_the_site(app_client: TestClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = app_client.post(
            "/login",
            data={
                "name": "ann",
                "password": PASSWORD,
                "csrf": login_token(app_client),
                "next": target,
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == "/"
        app_client.cookies.clear()


def test_secure_cookie_behind_https(roster: Engine, clock: Clock, monkeypatch) -> None:
    monkeypatch.setenv("COMMS_PUBLIC_URL", "https://coi.example.com")
    reset_settings_cache()
    app = create_app(get_settings(), engine=roster, clock=clock, enqueue=lambda *_: None)
    with TestClient(app, base_url="https://127.0.0.1") as client:
        response = client.post(
            "/login",
            data={"name": "ann", "password": PASSWORD, "csrf": login_token(client)},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


def test_wrong_password_is_refused_and_audited(app_client: TestClient, roster: Engine) -> None:
    response = app_client.post(
        "/login",
        data={"name": "ann", "password": "wrong password!", "csrf": login_token(app_client)},
    )
    _readable(response, 401, "do not match")
    unknown = app_client.post(
        "/login",
        data={"name": "nobody", "password": "wrong password!", "csrf": login_token(app_client)},
    )
    _readable(unknown, 401, "do not match")  # the same answer: names are not revealed
    assert _actions(roster)[-2:] == ["staff.sign_in_failed", "staff.sign_in_failed"]


def test_disabled_staff_cannot_sign_in_and_lose_their_session(
    app_client: TestClient, roster: Engine
) -> None:
    sign_in(app_client)
    with Session(roster) as s:
        disable_staff(s, "ann", actor="test", now=NOW)
        s.commit()
    assert app_client.get("/", headers=PAGE, follow_redirects=False).status_code == 303
    response = app_client.post(
        "/login", data={"name": "ann", "password": PASSWORD, "csrf": login_token(app_client)}
    )
    _readable(response, 401, "do not match")


def test_csrf_missing_or_wrong_is_403(app_client: TestClient) -> None:
    _readable(
        app_client.post("/login", data={"name": "ann", "password": PASSWORD}), 403, "Form refused"
    )
    _readable(
        app_client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf": "forged"}),
        403,
        "Form refused",
    )
    sign_in(app_client)
    _readable(app_client.post("/logout", data={}), 403, "security token")
    _readable(app_client.post("/logout", data={"csrf": "forged"}), 403, "security token")
    _readable(app_client.post("/logout", headers={"x-csrf-token": "forged"}), 403, "security token")
    assert app_client.get("/", headers=PAGE, follow_redirects=False).status_code == 200  # still in


def test_tampered_cookie_and_expired_session(app_client: TestClient, clock: Clock) -> None:
    sign_in(app_client)
    good = app_client.cookies.get("comms_session")
    assert good
    for bad in (
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "x" * 5000,
        "no-dot",
        "a.b",
    ):
        app_client.cookies.set("comms_session", bad)
        response = app_client.get("/vendors", headers=PAGE, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
        assert (
            app_client.get("/dashboard/numbers", headers={"hx-request": "true"}).status_code == 401
        )
    app_client.cookies.set("comms_session", good)
    assert app_client.get("/vendors", headers=PAGE).status_code == 200
    clock.at = NOW + timedelta(hours=12, seconds=1)  # COMMS_STAFF_SESSION_HOURS, default 12
    response = app_client.get("/vendors", headers=PAGE, follow_redirects=False)
    assert response.status_code == 303
    assert app_client.get("/events").status_code == 401


def test_roles_are_enforced_on_the_server(app_client: TestClient) -> None:
    sign_in(app_client, "carl")  # a caller
    for path in (
        "/vendors",
        "/vendors/1",
        "/outbox",
        "/dashboard/numbers",
        "/certificates/1/document",
    ):
        _readable(app_client.get(path, headers=PAGE), 403, "for admin or compliance staff")
    _readable(app_client.get("/", headers=PAGE), 200, "call desk")
    app_client.cookies.clear()
    sign_in(app_client, "ada")  # an admin may do what compliance does
    assert app_client.get("/vendors", headers=PAGE).status_code == 200


def test_bad_input_gets_a_readable_page(app_client: TestClient) -> None:
    sign_in(app_client)
    _readable(app_client.get("/vendors/abc", headers=PAGE), 404, "no vendor")
    _readable(app_client.get("/vendors/99999", headers=PAGE), 404, "no vendor 99999")
    _readable(app_client.get("/vendors/" + "9" * 40, headers=PAGE), 404, "no vendor")
    _readable(app_client.get("/vendors", params={"q": "x" * 100_00}, headers=PAGE), 422, "q")
    _readable(app_client.get("/vendors?page=abc", headers=PAGE), 422, "page")
    _readable(app_client.get("/vendors?page=0", headers=PAGE), 422, "page")
    _readable(app_client.get("/vendors?status=great", headers=PAGE), 422, "Unknown status")
    _readable(app_client.get("/vendors?expiring_within=soon", headers=PAGE), 422, "expiring_within")
    _readable(app_client.get("/outbox?channel=pigeon", headers=PAGE), 422, "Unknown channel")
    _readable(app_client.get("/certificates/abc/document", headers=PAGE), 404, "no certificate")
    # SQL wildcards in a search are text, not patterns
    assert "0 vendor(s)" in app_client.get("/vendors?q=%25", headers=PAGE).text


def test_sign_in_is_rate_limited_per_account_and_per_address(app_client: TestClient) -> None:
    for _ in range(5):
        response = app_client.post(
            "/login",
            data={"name": "ann", "password": "wrong password!", "csrf": login_token(app_client)},
        )
        assert response.status_code == 401
    limited = app_client.post(
        "/login", data={"name": "ann", "password": PASSWORD, "csrf": login_token(app_client)}
    )
    _readable(limited, 429, "Too many failed sign-ins")
    assert int(limited.headers["retry-after"]) > 0
    # another account from the same address still works, until the address's limit
    assert (
        app_client.post(
            "/login",
            data={"name": "ada", "password": PASSWORD, "csrf": login_token(app_client)},
            follow_redirects=False,
        ).status_code
        == 303
    )
    app_client.cookies.clear()
    for i in range(15):
        app_client.post(
            "/login",
            data={"name": f"x{i}", "password": "wrong password!", "csrf": login_token(app_client)},
        )
    _readable(
        app_client.post(
            "/login", data={"name": "ada", "password": PASSWORD, "csrf": login_token(app_client)}
        ),
        429,
        "Too many",
    )


def test_dashboard_numbers_equal_comms_status(app_client: TestClient) -> None:
    sign_in(app_client)
    page = app_client.get("/", headers=PAGE).text
    result = CliRunner().invoke(cli, ["status", "--json", "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for status, count in report["counts"].items():
        assert f'data-count="{status}">{count}</a>' in page, status
    assert f'data-count="total">{sum(report["counts"].values())}</a>' in page


def test_search_by_name_email_phone_and_vendor_id(app_client: TestClient) -> None:
    sign_in(app_client)
    for q in ("acme", "ops@acmeroofing", "212-555-0142", "100001"):
        text = app_client.get("/vendors", params={"q": q}, headers=PAGE).text
        assert "Acme Roofing LLC" in text and "1 vendor(s)" in text, q
    expired = app_client.get("/vendors?status=expired", headers=PAGE).text
    assert "1 vendor(s)" in expired


def test_search_matches_the_start_of_a_name_or_email_through_the_indexes(
    app_client: TestClient,
) -> None:
    """The list searches as `comms.vendor_search` does (index ranges, never a scan): the start
    of a name (any case) or of an email; a word inside a name is not a match, as the hint says."""
    sign_in(app_client)
    page = app_client.get("/vendors", headers=PAGE).text
    assert "start of name or email" in page
    for q, found in (("ACME ro", 1), ("cedar", 1), ("roofing", 0), ("acmeroofing", 0)):
        text = app_client.get("/vendors", params={"q": q}, headers=PAGE).text
        assert f"{found} vendor(s)" in text, q


def test_a_templates_folder_without_web_pages_keeps_the_workspace(
    roster: Engine, clock: Clock, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("COMMS_TEMPLATES_DIR", str(tmp_path / "only-messages"))
    (tmp_path / "only-messages").mkdir()
    app = create_app(get_settings(), engine=roster, clock=clock, enqueue=lambda *_: None)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert "Sign in" in client.get("/login").text
        assert client.get("/static/htmx.min.js").status_code == 200
