"""Fixtures: a vendor with an agent, a requirement profile and a certificate on file."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.models import Certificate, Vendor
from comms.profiles import read_profiles
from tests.support import factory
from tests.support.scheduler_fixtures import _fresh_broker, smtp  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
EXPIRES = date(2027, 1, 15)  # a Friday
LOW_RISK = read_profiles(REPO / "config/requirements/low-risk.yaml")[0]


def add_vendor(
    session: Session,
    *,
    name: str = "Acme Roofing LLC",
    expires: date | None = EXPIRES,
    phone: str | None = "+12125550142",
    timezone: str | None = None,
    limit: int = 1_000_000,
) -> Vendor:
    """A low-risk vendor whose broker and address follow from its name; covered until
    `expires` (none: no certificate), committed."""
    first = name.split()[0].lower()
    vendor = factory.vendor(
        session,
        name=name,
        contact_name=None,
        email=f"ops@{first}.example",
        phone=phone,
        timezone=timezone,
        profile=factory.profile(session, LOW_RISK),
        agent=factory.agent(
            session,
            name="Dana Broker",
            email=f"dana.{first}@brokerage.example",
            phone="+12125550199",
        ),
    )
    if expires is not None:
        add_certificate(
            session, vendor, expires=expires, limit=limit, at=datetime(2026, 1, 10, tzinfo=UTC)
        )
    session.commit()
    return vendor


def add_certificate(
    session: Session, vendor: Vendor, *, expires: date, limit: int, at: datetime
) -> Certificate:
    """A certificate received by email at `at`: general liability of `limit` until `expires`."""
    return factory.cover(
        session,
        vendor,
        received_at=at,
        expires=expires,
        source="email",
        number=f"GL-{expires.year}",
        limits={"each_occurrence": limit, "general_aggregate": limit},
        additional_insured=None,
    )


@pytest.fixture
def vendor_db(use_db: Engine) -> Engine:
    with Session(use_db) as s:
        add_vendor(s)
    return use_db
