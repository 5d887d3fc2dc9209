"""The one place tests build their rows: profile, agent, vendor, certificate, policy, case.

Every function takes the session first and everything else by keyword, with defaults that
make a plausible row; a suite's conftest states only what its world has that differs. Rows
are flushed (so they have ids), never committed: the caller decides when its data is done.
Every time a test can depend on (a certificate's receipt, a policy's term, a case's opening)
is timezone-aware and comes from the caller (`received_at`, `expires`, `now`); only a vendor's,
agent's or profile's own bookkeeping stamps keep the models' defaults. The same calls give
the same rows on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlmodel import Session

from comms.models import Agent, Case, Certificate, Policy, RequirementProfile, Vendor
from comms.models.certificates import CertificateSource, CertificateStatus
from comms.profiles import ProfileSpec, save_profile

GL_LIMITS = {"each_occurrence": 1_000_000, "general_aggregate": 2_000_000}

STANDARD = ProfileSpec.model_validate(
    {
        "name": "standard",
        "coverages": {
            "general_liability": {"limits": dict(GL_LIMITS), "additional_insured": True},
        },
    }
)


class _Term(enum.Enum):
    YEAR_BEFORE = "the same day a year before the expiry"


A_YEAR_BEFORE = _Term.YEAR_BEFORE  # `policy(effective=...)`'s default: a one-year term


def profile(session: Session, spec: ProfileSpec = STANDARD) -> RequirementProfile:
    """The requirement profile `spec`, inserted or updated by name (so calling twice is fine)."""
    return save_profile(session, spec)


def agent(
    session: Session,
    *,
    name: str = "Pat Kim",
    agency: str | None = None,
    email: str | None = "pat@kim.test",
    phone: str | None = None,
) -> Agent:
    row = Agent(name=name, agency=agency, email=email, phone=phone)
    session.add(row)
    session.flush()
    return row


def vendor(
    session: Session,
    *,
    name: str = "Acme Plumbing",
    contact_name: str | None = "Dana",
    email: str | None = "dana@acme.test",
    phone: str | None = None,
    vendor_code: str | None = None,
    timezone: str | None = None,
    profile: RequirementProfile | None = None,
    agent: Agent | None = None,
) -> Vendor:
    """A vendor; with no `profile` or `agent` it has none (pass `profile=profile(s)`)."""
    row = Vendor(
        name=name,
        contact_name=contact_name,
        email=email,
        phone=phone,
        vendor_code=vendor_code,
        timezone=timezone,
        profile_id=profile.id if profile else None,
        agent_id=agent.id if agent else None,
    )
    session.add(row)
    session.flush()
    return row


def certificate(
    session: Session,
    vendor: Vendor,
    *,
    received_at: datetime,
    status: str = CertificateStatus.ACCEPTED.value,
    source: str = CertificateSource.ROSTER.value,
    reference: str | None = None,
) -> Certificate:
    """A certificate with no policies yet (see `policy`, or `cover` for the usual pair)."""
    assert vendor.id is not None, "flush the vendor first"
    row = Certificate(
        vendor_id=vendor.id,
        received_at=received_at,
        created_at=received_at,
        status=status,
        source=source,
        reference=reference,
    )
    session.add(row)
    session.flush()
    return row


def policy(
    session: Session,
    certificate: Certificate,
    *,
    expires: date,
    coverage: str = "general_liability",
    number: str = "GL-1",
    effective: date | _Term | None = A_YEAR_BEFORE,
    limits: dict[str, int] | None = None,
    additional_insured: bool | None = True,
) -> Policy:
    """One policy on `certificate` (limits default to 1M/2M general liability)."""
    assert certificate.id is not None, "flush the certificate first"
    if effective is A_YEAR_BEFORE:
        effective = _a_year_before(expires)
    row = Policy(
        certificate_id=certificate.id,
        vendor_id=certificate.vendor_id,
        coverage=coverage,
        policy_number=number,
        effective_date=effective,
        expiration_date=expires,
        limits=dict(GL_LIMITS) if limits is None else limits,
        additional_insured=additional_insured,
        created_at=certificate.received_at,
        updated_at=certificate.received_at,
    )
    session.add(row)
    session.flush()
    return row


def cover(
    session: Session,
    vendor: Vendor,
    *,
    received_at: datetime,
    expires: date,
    status: str = CertificateStatus.ACCEPTED.value,
    source: str = CertificateSource.ROSTER.value,
    number: str = "GL-1",
    effective: date | _Term | None = A_YEAR_BEFORE,
    limits: dict[str, int] | None = None,
    additional_insured: bool | None = True,
) -> Certificate:
    """The usual pair: a certificate listing one general liability policy."""
    row = certificate(session, vendor, received_at=received_at, status=status, source=source)
    policy(
        session,
        row,
        expires=expires,
        number=number,
        effective=effective,
        limits=limits,
        additional_insured=additional_insured,
    )
    return row


def case(
    session: Session,
    vendor: Vendor,
    *,
    now: datetime,
    trigger: str = "expiring",
    workflow: str = "standard",
    state: str = "waiting",
    step_index: int = 0,
    next_action_at: datetime | None = None,
) -> Case:
    """An open case opened at `now` (created directly, not through the lifecycle)."""
    assert vendor.id is not None, "flush the vendor first"
    row = Case(
        vendor_id=vendor.id,
        trigger=trigger,
        workflow=workflow,
        state=state,
        step_index=step_index,
        next_action_at=next_action_at,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _a_year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)
