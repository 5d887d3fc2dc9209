"""The test-data factory builds the same rows on SQLite and PostgreSQL, times as given."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from comms.models import Case, Certificate, Policy, Vendor
from tests.support import factory


def test_a_covered_vendor_with_a_case(session: Session, now: datetime) -> None:
    vendor = factory.vendor(session, profile=factory.profile(session), agent=factory.agent(session))
    factory.cover(session, vendor, received_at=now, expires=date(2028, 2, 29))
    case = factory.case(session, vendor, now=now, next_action_at=now + timedelta(days=1))
    session.commit()

    row = session.exec(select(Vendor)).one()
    assert row.profile_id is not None and row.agent_id is not None
    cert = session.exec(select(Certificate).where(Certificate.vendor_id == row.id)).one()
    assert (cert.status, cert.source, cert.received_at, cert.created_at) == (
        "accepted",
        "roster",
        now,
        now,
    )
    policy = session.exec(select(Policy).where(Policy.certificate_id == cert.id)).one()
    assert policy.effective_date == date(2027, 2, 28)  # a year before 29 February
    assert policy.limits == factory.GL_LIMITS and policy.additional_insured is True
    stored = session.get(Case, case.id)
    assert stored is not None and stored.created_at == now and stored.state == "waiting"


def test_profile_twice_is_one_row(session: Session) -> None:
    assert factory.profile(session).id == factory.profile(session).id
