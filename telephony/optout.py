"""Inbound SMS keywords: opt out, opt in, help; anything else goes on the case timeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from comms.models import OPEN_STATES, Case, CaseEvent, Vendor, audit
from telephony.models import SmsOptOut

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
HOW_TO_SEND = re.compile(
    r"\b(how|where|what)\b.*\b(send|submit|email|upload|get)\b.*\b(cert|certificate|coi|acord|insurance|it)\b"
    r"|\b(send|submit)\b.*\b(cert|certificate|coi)\b.*\?",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class SmsAction:
    action: str  # opted_out, opted_in, help, how_to_send, noted
    reply_template: str | None


def keyword(body: str) -> str:
    words = body.strip().split()
    return words[0].strip(".!").upper() if len(words) == 1 else ""


def is_opted_out(session: Session, phone: str) -> bool:
    row = session.exec(select(SmsOptOut).where(SmsOptOut.phone == phone)).first()
    return row is not None and row.active


def opt_out(session: Session, phone: str, word: str, *, now: datetime) -> None:
    row = session.exec(select(SmsOptOut).where(SmsOptOut.phone == phone)).first()
    if row is None:
        row = SmsOptOut(phone=phone, keyword=word, opted_out_at=now)
    row.active, row.keyword, row.opted_out_at = True, word, now
    session.add(row)
    for vendor in _vendors(session, phone):
        vendor.opt_out_sms = True
        vendor.updated_at = now
        session.add(vendor)
        _timeline(session, vendor, "sms_opted_out", word, now=now)
    audit(session, actor="sms", action="sms.opt_out", entity="phone", entity_id=None, at=now)


def opt_in(session: Session, phone: str, word: str, *, now: datetime) -> None:
    row = session.exec(select(SmsOptOut).where(SmsOptOut.phone == phone)).first()
    if row is not None:
        row.active, row.opted_in_at = False, now
        session.add(row)
    for vendor in _vendors(session, phone):
        vendor.opt_out_sms = False
        vendor.updated_at = now
        session.add(vendor)
        _timeline(session, vendor, "sms_opted_in", word, now=now)
    audit(session, actor="sms", action="sms.opt_in", entity="phone", entity_id=None, at=now)


def handle_text(session: Session, phone: str, body: str, *, now: datetime) -> SmsAction:
    """Apply an inbound text from `phone` (E.164) and say what to answer."""
    word = keyword(body)
    if word in STOP_WORDS:
        opt_out(session, phone, word, now=now)
        return SmsAction("opted_out", None)  # the carrier confirms STOP itself
    if word in START_WORDS:
        opt_in(session, phone, word, now=now)
        return SmsAction("opted_in", "opted_in")
    if word in HELP_WORDS:
        return SmsAction("help", "help")
    asks = bool(HOW_TO_SEND.search(body))
    for vendor in _vendors(session, phone):
        _timeline(session, vendor, "sms_received", body[:1000], now=now)
    return SmsAction("how_to_send" if asks else "noted", "how_to_send" if asks else None)


def _vendors(session: Session, phone: str) -> list[Vendor]:
    return list(session.exec(select(Vendor).where(Vendor.phone == phone)).all())


def _timeline(session: Session, vendor: Vendor, kind: str, text: str, *, now: datetime) -> None:
    case = session.exec(
        select(Case)
        .where(Case.vendor_id == vendor.id, col(Case.state).in_(OPEN_STATES))
        .order_by(col(Case.id).desc())
    ).first()
    if case is None or case.id is None:
        return
    session.add(CaseEvent(case_id=case.id, at=now, kind=kind, reason=text, data={"channel": "sms"}))
