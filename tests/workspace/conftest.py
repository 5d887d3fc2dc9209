"""Workspace fixtures: the example roster loaded, staff accounts, a web app on a fixed clock."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.app.web import create_app
from comms.profiles import load_profiles
from comms.roster import import_roster
from comms.settings import get_settings
from comms.staff.accounts import add_staff

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "a long test password"
NOW = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def roster(use_db: Engine) -> Engine:
    """The example roster, as `make run` loads it."""
    with Session(use_db) as s:
        load_profiles(s, REPO / "config" / "requirements")
        import_roster(s, REPO / "config" / "examples" / "roster.csv", now=NOW, region="US")
        for name, role in (("ann", "compliance"), ("carl", "caller"), ("ada", "admin")):
            add_staff(s, name, role, PASSWORD, actor="test", now=NOW)
        s.commit()
    return use_db


@pytest.fixture
def app_client(roster: Engine, clock: Clock) -> Iterator[TestClient]:
    app = create_app(get_settings(), engine=roster, clock=clock, enqueue=lambda *_: None)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def login_token(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in(client: TestClient, name: str = "ann", password: str = PASSWORD) -> str:
    """Signs in; returns the session's CSRF token."""
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf": login_token(client), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return session_csrf(client)


def session_csrf(client: TestClient) -> str:
    """The session's CSRF token, from the sign-out form every page has."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/", headers=PAGE).text)
    assert found
    return found.group(1)


PAGE = {"accept": "text/html,application/xhtml+xml"}
