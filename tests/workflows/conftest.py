"""Fixtures: a vendor with an agent, a requirement profile and a certificate on file."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.models import Agent, Certificate, Policy, Vendor
from comms.profiles import read_profiles, save_profile
from tests.support.scheduler_fixtures import _fresh_broker, smtp  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
EXPIRES = date(2027, 1, 15)  # a Friday


def add_vendor(
    session: Session,
    *,
    name: str = "Acme Roofing LLC",
    expires: date | None = EXPIRES,
    phone: str | None = "+12125550142",
    timezone: str | None = None,
    limit: int = 1_000_000,
) -> Vendor:
    profile = save_profile(session, read_profiles(REPO / "config/requirements/low-risk.yaml")[0])
    agent = Agent(
        name="Dana Broker",
        email=f"dana.{name.split()[0].lower()}@brokerage.example",
        phone="+12125550199",
    )
    session.add(agent)
    session.flush()
    vendor = Vendor(
        name=name,
        email=f"ops@{name.split()[0].lower()}.example",
        phone=phone,
        timezone=timezone,
        profile_id=profile.id,
        agent_id=agent.id,
    )
    session.add(vendor)
    session.flush()
    if expires is not None:
        add_certificate(
            session, vendor, expires=expires, limit=limit, at=datetime(2026, 1, 10, tzinfo=UTC)
        )
    session.commit()
    return vendor


def add_certificate(
    session: Session, vendor: Vendor, *, expires: date, limit: int, at: datetime
) -> Certificate:
    cert = Certificate(vendor_id=vendor.id or 0, source="email", received_at=at, created_at=at)
    session.add(cert)
    session.flush()
    session.add(
        Policy(
            certificate_id=cert.id or 0,
            vendor_id=vendor.id or 0,
            coverage="general_liability",
            policy_number=f"GL-{expires.year}",
            effective_date=date(expires.year - 1, expires.month, expires.day),
            expiration_date=expires,
            limits={"each_occurrence": limit, "general_aggregate": limit},
            created_at=at,
            updated_at=at,
        )
    )
    session.flush()
    return cert


@pytest.fixture
def vendor_db(use_db: Engine) -> Engine:
    with Session(use_db) as s:
        add_vendor(s)
    return use_db
