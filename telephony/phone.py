"""Phone numbers: normalize to E.164 and find who a number belongs to."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from sqlmodel import Session, col, select

from comms.models import Agent, Vendor


def normalize(number: str | None, region: str = "US") -> str | None:
    """E.164 form of `number`, or None when it is not a valid phone number."""
    if not number:
        return None
    return _normalize(number, region)


@lru_cache(maxsize=16384)
def _normalize(number: str, region: str) -> str | None:
    """Memoized: the same callers call again, and parsing costs more than the rest of an IVR
    answer. A pure function of its arguments (phonenumbers' metadata is fixed per release)."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def find_caller(
    session: Session, number: str | None, region: str = "US"
) -> tuple[Vendor | None, Agent | None]:
    """The active vendor (first) or the agent whose phone is `number`."""
    e164 = normalize(number, region)
    if e164 is None:
        return None, None
    vendor = session.exec(
        select(Vendor).where(Vendor.phone == e164, col(Vendor.active)).order_by(col(Vendor.id))
    ).first()
    if vendor is not None:
        return vendor, None
    agent = session.exec(select(Agent).where(Agent.phone == e164).order_by(col(Agent.id))).first()
    return None, agent
