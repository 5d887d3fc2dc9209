"""Correlate an inbound message with a vendor and case.

In order: the signed reply token in the plus-address of To/Delivered-To (a
forged or mangled token is refused and the weaker matches are tried); then
In-Reply-To/References against the Message-IDs of our deliveries; then the
sender's address against agents and vendors. None of them matching returns None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses, parseaddr

from sqlmodel import Session, col, select

from comms.models import OPEN_STATES, Agent, Case, Delivery, Vendor
from comms.settings import Settings
from comms.tokens import token_from_address, verify_token

_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Match:
    vendor_id: int
    case_id: int | None
    method: str  # "token" | "thread" | "sender"
    forged_token: bool = False


def _header(msg: Message, name: str) -> list[str]:
    try:
        return [str(v) for v in msg.get_all(name, [])]
    except Exception:
        return []


def _open_case(session: Session, vendor_id: int) -> int | None:
    case = session.exec(
        select(Case)
        .where(Case.vendor_id == vendor_id, col(Case.state).in_(list(OPEN_STATES)))
        .order_by(col(Case.id).desc())
    ).first()
    return case.id if case else None


def correlate(session: Session, msg: Message, settings: Settings) -> Match | None:
    """Find the vendor and case ``msg`` answers, or None."""
    forged = False
    recipients = getaddresses(_header(msg, "To") + _header(msg, "Delivered-To"))
    for _, address in recipients:
        token = token_from_address(address, local_part=settings.reply_local_part)
        if token is None:
            continue
        verified = verify_token(token, settings.signing_key())
        if verified is None:
            forged = True
            continue
        case = session.get(Case, verified.case_id)
        if case is not None:
            return Match(case.vendor_id, case.id, "token")
    ids = _MSGID.findall(" ".join(_header(msg, "In-Reply-To") + _header(msg, "References")))
    if ids:
        delivery = session.exec(
            select(Delivery)
            .where(col(Delivery.message_id).in_(ids), col(Delivery.vendor_id).is_not(None))
            .order_by(col(Delivery.id).desc())
        ).first()
        if delivery is not None and delivery.vendor_id is not None:
            return Match(delivery.vendor_id, delivery.case_id, "thread", forged)
    sender = parseaddr(str(msg.get("From", "")))[1].strip().lower()
    if sender:
        vendor = session.exec(
            select(Vendor).where(Vendor.email == sender).order_by(col(Vendor.id))
        ).first()
        if vendor is None:
            agent = session.exec(select(Agent).where(Agent.email == sender)).first()
            if agent is not None:
                vendor = session.exec(
                    select(Vendor).where(Vendor.agent_id == agent.id).order_by(col(Vendor.id))
                ).first()
        if vendor is not None and vendor.id is not None:
            return Match(vendor.id, _open_case(session, vendor.id), "sender", forged)
    return None
