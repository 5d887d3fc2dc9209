"""Fixtures: the Twilio-shaped server, settings pointing at it, our app on a real port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
import uvicorn
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms import dispatch
from comms.app.web import create_app
from comms.models import Agent, Case, Vendor
from comms.settings import Settings, get_settings, reset_settings_cache
from tests.support import factory
from tests.support.services import free_port
from tests.support.twilio_server import TwilioTestServer

PUBLIC_URL = "https://coi.example.test"
VENDOR_PHONE = "+12125550143"
AGENT_PHONE = "+12125550177"
CALL_CENTER = "+12125550199"
FROM_NUMBER = "+12125550100"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock(now: datetime) -> Clock:
    return Clock(now)


@pytest.fixture
def twilio() -> Iterator[TwilioTestServer]:
    with TwilioTestServer() as server:
        yield server


@pytest.fixture
def settings(
    use_db: Engine, twilio: TwilioTestServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    env = {
        "COMMS_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "COMMS_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "COMMS_TWILIO_FROM_NUMBER": FROM_NUMBER,
        "COMMS_TWILIO_API_URL": twilio.url,
        "COMMS_PUBLIC_URL": PUBLIC_URL,
        "COMMS_CALL_CENTER_NUMBER": CALL_CENTER,
        "COMMS_ORGANIZATION_NAME": "Harbor Property Group",
        "COMMS_SUPPORT_EMAIL": "coi@harbor.test",
        "COMMS_SECRET_KEY": "test-signing-key-0123456789",
        "COMMS_STAFF_TOKENS": json.dumps(STAFF_TOKENS),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    yield get_settings()
    dispatch.shutdown()


STAFF_TOKENS = {"ann": "ann-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef"}


def staff_headers(name: str) -> dict[str, str]:
    """The staff API's Authorization header for one of `STAFF_TOKENS`."""
    return {"Authorization": f"Bearer {STAFF_TOKENS[name]}"}


@dataclass
class AppServer:
    url: str
    enqueued: list[int]

    def wait_enqueued(self, count: int) -> list[int]:
        """Enqueueing runs after the response is sent: wait for it (bounded)."""
        deadline = time.monotonic() + 10
        while len(self.enqueued) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return sorted(self.enqueued)


@pytest.fixture
def app(settings: Settings, use_db: Engine, clock: Clock) -> Iterator[AppServer]:
    enqueued: list[int] = []
    application = create_app(
        settings,
        engine=use_db,
        clock=clock,
        enqueue=lambda i, _now: enqueued.append(i),
        batched_call_log=False,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("app server did not start")
        time.sleep(0.01)
    yield AppServer(f"http://127.0.0.1:{port}", enqueued)
    server.should_exit = True
    thread.join(5)


@dataclass
class World:
    vendor: Vendor
    agent: Agent
    case: Case


def make_world(
    session: Session,
    now: datetime,
    *,
    expires: date = date(2026, 11, 20),
    phone: str = VENDOR_PHONE,
    workflow: str = "expiring",
    step_index: int = 4,
) -> World:
    vendor = make_vendor(session, now, expires=expires, phone=phone)
    agent = session.get(Agent, vendor.agent_id)
    assert agent is not None
    case = factory.case(
        session,
        vendor,
        now=now,
        workflow=workflow,
        step_index=step_index,
        next_action_at=now + timedelta(days=5),
    )
    session.commit()
    for row in (vendor, agent, case):
        session.refresh(row)
    return World(vendor, agent, case)


def make_vendor(
    session: Session,
    now: datetime,
    *,
    expires: date = date(2026, 11, 20),
    phone: str = VENDOR_PHONE,
) -> Vendor:
    """Acme Plumbing in New York, keypad code 4417, general liability on file since January."""
    vendor = factory.vendor(
        session,
        phone=phone,
        vendor_code="4417",
        timezone="America/New_York",
        profile=factory.profile(session),
        agent=factory.agent(session, agency="Kim Insurance", phone=AGENT_PHONE),
    )
    factory.cover(
        session,
        vendor,
        received_at=now - timedelta(days=300),
        expires=expires,
        effective=date(2025, 11, 20),
    )
    session.commit()
    session.refresh(vendor)
    return vendor
