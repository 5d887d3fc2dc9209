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
from comms.models import Agent, Case, Certificate, Policy, Vendor
from comms.profiles import ProfileSpec, save_profile
from comms.settings import Settings, get_settings, reset_settings_cache
from tests.support.services import free_port
from tests.support.twilio_server import TwilioTestServer

PUBLIC_URL = "https://coi.example.test"
VENDOR_PHONE = "+12125550143"
AGENT_PHONE = "+12125550177"
CALL_CENTER = "+12125550199"
FROM_NUMBER = "+12125550100"

PROFILE = ProfileSpec.model_validate(
    {
        "name": "standard",
        "coverages": {
            "general_liability": {
                "limits": {"each_occurrence": 1000000, "general_aggregate": 2000000},
                "additional_insured": True,
            }
        },
    }
)


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
    case = Case(
        vendor_id=vendor.id or 0,
        trigger="expiring",
        workflow=workflow,
        state="waiting",
        step_index=step_index,
        next_action_at=now + timedelta(days=5),
        created_at=now,
        updated_at=now,
    )
    session.add(case)
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
    profile = save_profile(session, PROFILE)
    agent = Agent(name="Pat Kim", agency="Kim Insurance", email="pat@kim.test", phone=AGENT_PHONE)
    session.add(agent)
    session.flush()
    vendor = Vendor(
        name="Acme Plumbing",
        contact_name="Dana",
        email="dana@acme.test",
        phone=phone,
        vendor_code="4417",
        profile_id=profile.id,
        agent_id=agent.id,
        timezone="America/New_York",
    )
    session.add(vendor)
    session.flush()
    assert vendor.id is not None
    cert = Certificate(
        vendor_id=vendor.id, received_at=now - timedelta(days=300), status="accepted"
    )
    session.add(cert)
    session.flush()
    assert cert.id is not None
    session.add(
        Policy(
            certificate_id=cert.id,
            vendor_id=vendor.id,
            coverage="general_liability",
            policy_number="GL-1",
            effective_date=date(2025, 11, 20),
            expiration_date=expires,
            limits={"each_occurrence": 1000000, "general_aggregate": 2000000},
            additional_insured=True,
        )
    )
    session.commit()
    session.refresh(vendor)
    return vendor
