"""The email suite's vendor: the standard profile with endorsements and workers' comp."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session

from comms.models import Vendor
from comms.profiles import ProfileSpec
from tests.support import factory

PROFILE = ProfileSpec.model_validate(
    {
        "name": "standard",
        "coverages": {
            "general_liability": {
                "limits": {"each_occurrence": 1000000, "general_aggregate": 2000000},
                "additional_insured": True,
                "endorsements": ["CG 20 10"],
            },
            "workers_compensation": {"limits": {"el_each_accident": 500000}},
        },
    }
)


def make_vendor(
    session: Session,
    now: datetime,
    *,
    name: str = "Acme Plumbing",
    email: str | None = "dana@acme.test",
    agent_email: str | None = None,
    each_occurrence: int | None = None,
) -> Vendor:
    """A vendor (with an agent if `agent_email`), and general liability of `each_occurrence`
    received at `now` if given (none: no certificate)."""
    vendor = factory.vendor(
        session,
        name=name,
        email=email,
        profile=factory.profile(session, PROFILE),
        agent=factory.agent(session, email=agent_email) if agent_email else None,
    )
    if each_occurrence is not None:
        factory.cover(
            session,
            vendor,
            received_at=now,
            expires=date(2027, 1, 1),
            limits={"each_occurrence": each_occurrence, "general_aggregate": 2000000},
        )
    return vendor
