from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session

from comms.models import Agent, Case, Certificate, Policy, RequirementProfile, Vendor
from comms.profiles import ProfileSpec, save_profile

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
    profile: RequirementProfile = save_profile(session, PROFILE)
    agent = None
    if agent_email:
        agent = Agent(name="Pat Kim", email=agent_email)
        session.add(agent)
        session.flush()
    vendor = Vendor(
        name=name,
        contact_name="Dana",
        email=email,
        profile_id=profile.id,
        agent_id=agent.id if agent else None,
    )
    session.add(vendor)
    session.flush()
    if each_occurrence is not None:
        assert vendor.id is not None
        cert = Certificate(vendor_id=vendor.id, received_at=now)
        session.add(cert)
        session.flush()
        assert cert.id is not None
        session.add(
            Policy(
                certificate_id=cert.id,
                vendor_id=vendor.id,
                coverage="general_liability",
                policy_number="GL-1",
                effective_date=date(2026, 1, 1),
                expiration_date=date(2027, 1, 1),
                limits={"each_occurrence": each_occurrence, "general_aggregate": 2000000},
                additional_insured=True,
            )
        )
        session.flush()
    return vendor


def make_case(session: Session, vendor: Vendor, now: datetime) -> Case:
    assert vendor.id is not None
    case = Case(
        vendor_id=vendor.id,
        trigger="expiring",
        workflow="standard",
        state="waiting",
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    return case
