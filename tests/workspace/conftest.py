"""Workspace fixtures: the example roster loaded, staff accounts, a web app on a fixed clock."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.app.web import create_app
from comms.models import Certificate, Delivery, Vendor
from comms.profiles import load_profiles
from comms.roster import import_roster
from comms.settings import get_settings
from comms.staff.accounts import add_staff
from tests.support.services import free_port

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


@pytest.fixture
def seeded(roster: Engine) -> Engine:
    """Beyond the roster: a held certificate with its PDF, and an email, a text and a call."""
    data = (REPO / "tests" / "samples" / "acord25" / "acord_25_2016_03_sample.pdf").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    folder = get_settings().documents_dir / digest[:2]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{digest}.pdf").write_bytes(data)
    with Session(roster) as s:
        vendor = s.exec(select(Vendor).where(Vendor.name == "Acme Roofing LLC")).one()
        s.add(
            Certificate(
                vendor_id=vendor.id or 0,
                source="email",
                status="needs_review",
                document_path=str(folder / f"{digest}.pdf"),
                document_sha256=digest,
                received_at=NOW,
                doubtful_fields=["insured"],
            )
        )
        for i, (channel, subject, body) in enumerate(
            [
                (
                    "email",
                    "Certificate of insurance needed",
                    "Dear agent,\nplease send the renewal.",
                ),
                (
                    "sms",
                    None,
                    "Acme Roofing: your certificate expires soon. Reply STOP to opt out.",
                ),
                ("call", None, "This is a reminder call about your certificate of insurance."),
            ]
        ):
            s.add(
                Delivery(
                    idempotency_key=f"seed-{i}",
                    channel=channel,
                    recipient="+12125550142",
                    vendor_id=vendor.id,
                    template=f"{channel}_reminder",
                    subject=subject,
                    body_text=body,
                    status="sent",
                    created_at=NOW,
                    sent_at=NOW,
                )
            )
        s.commit()
    return roster


class Live:
    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app

    def publish(self, kind: str, data: dict[str, Any] | None = None) -> None:
        self.app.state.workspace.hub.publish(kind, data)


@pytest.fixture
def live(seeded: Engine, clock: Clock) -> Iterator[Live]:
    """The web app served by uvicorn on a free loopback port."""
    app = create_app(get_settings(), engine=seeded, clock=clock, enqueue=lambda *_: None)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Live(f"http://127.0.0.1:{port}", app)
    server.should_exit = True
    thread.join(10)
