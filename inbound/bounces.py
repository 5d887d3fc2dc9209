"""A bounce that arrives by mail (a DSN after the SMTP server had accepted the message).

For each permanently failed address: it goes on the suppression list, every vendor and agent
with that address is flagged for staff (`email_invalid`), the delivery that bounced is marked
`bounced`, and its case is told the same way as for a bounce at SMTP time
(`comms.outbox.notify_failure`: the engine turns it into the `email_bounced` outcome, which
skips ahead to the phone steps). The delivery is found by the Message-IDs quoted in the DSN,
else as the latest email sent to that address. A bounce for an address we never sent to is
only logged: bounces cannot be authenticated, and a forged one must not silence a vendor.
Temporary failures are only logged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from typing import Any

from sqlmodel import Session, col, select

from comms.email.message import recipients_of
from comms.models import Agent, Delivery, DeliveryStatus, Vendor, audit
from comms.outbox import notify_failure, suppress
from comms.redact import redact_email

log = logging.getLogger(__name__)

_MSGID = re.compile(r"<[^<>\s@]+@[^<>\s]+>")
_MAX_SCAN = 512 * 1024


@dataclass
class BounceReport:
    suppressed: list[str] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)
    cases: list[int] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "suppressed": self.suppressed,
            "flagged": self.flagged,
            "deliveries": self.deliveries,
            "cases": self.cases,
            "ignored": self.ignored,
        }


def quoted_message_ids(msg: Message) -> list[str]:
    """Message-IDs quoted anywhere in the DSN (the returned headers or message)."""
    found: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            continue
        if isinstance(payload, bytes):
            text = payload[:_MAX_SCAN].decode("latin-1")
            for line in text.splitlines():
                if line.lower().startswith(("message-id:", "in-reply-to:")):
                    found.extend(_MSGID.findall(line))
    # an attached message/rfc822 part is parsed as a sub-message: read its header too
    for part in msg.walk():
        if part is not msg and part.get("Message-ID") and part.get_content_type() != "multipart":
            found.extend(_MSGID.findall(str(part.get("Message-ID"))))
    return list(dict.fromkeys(found))


def _bounced_delivery(session: Session, address: str, ids: list[str]) -> Delivery | None:
    """The email we sent to ``address`` that bounced (None: we never wrote to it)."""
    if ids:
        rows = session.exec(
            select(Delivery)
            .where(col(Delivery.message_id).in_(ids), Delivery.channel == "email")
            .order_by(col(Delivery.id).desc())
        ).all()
        for row in rows:
            if address in {a.strip().lower() for a in recipients_of(row)}:
                return row
    return session.exec(
        select(Delivery)
        .where(
            Delivery.channel == "email",
            col(Delivery.recipient).ilike(address),
            col(Delivery.status).in_(("sent", "delivered")),
        )
        .order_by(col(Delivery.sent_at).desc(), col(Delivery.id).desc())
    ).first()


def _flag(session: Session, address: str, *, now: datetime, report: BounceReport) -> None:
    """Flag every vendor and agent with this address for staff."""
    for vendor in session.exec(select(Vendor).where(col(Vendor.email).ilike(address))).all():
        vendor.email_invalid = True
        vendor.updated_at = now
        session.add(vendor)
        report.flagged.append({"vendor": vendor.id})
    for agent in session.exec(select(Agent).where(col(Agent.email).ilike(address))).all():
        agent.email_invalid = True
        agent.updated_at = now
        session.add(agent)
        report.flagged.append({"agent": agent.id})


def handle_bounce(
    session: Session,
    msg: Message,
    permanent: frozenset[str],
    *,
    inbound_id: int,
    now: datetime,
) -> BounceReport:
    """Apply a DSN's permanent failures (flushed, not committed)."""
    report = BounceReport()
    ids = quoted_message_ids(msg)
    for address in sorted(permanent):
        delivery = _bounced_delivery(session, address, ids)
        if delivery is None:
            # We never wrote to it: a bounce cannot be authenticated, so one that matches
            # nothing we sent changes nothing (a forged DSN must not silence a vendor).
            report.ignored.append(address)
            log.info("bounce for %s matches no sent email; ignored", redact_email(address))
            continue
        suppress(
            session,
            "email",
            address,
            reason="permanent failure reported by a bounce message",
            now=now,
            source=f"inbound:{inbound_id}",
        )
        report.suppressed.append(address)
        _flag(session, address, now=now, report=report)
        if delivery.status != DeliveryStatus.BOUNCED.value:
            delivery.status = DeliveryStatus.BOUNCED.value
            delivery.error = f"bounced after it was accepted (DSN, inbound message {inbound_id})"
            delivery.error_code = "dsn_permanent"
            delivery.updated_at = now
            session.add(delivery)
            notify_failure(session, delivery, now=now)
            report.deliveries.append(delivery.id or 0)
            if delivery.case_id is not None:
                report.cases.append(delivery.case_id)
        audit(
            session,
            action="email.bounced",
            entity="suppression",
            at=now,
            data={"address": address, "inbound_id": inbound_id, "delivery_id": delivery.id},
        )
        log.info("permanent bounce for %s (inbound %s)", redact_email(address), inbound_id)
    session.flush()
    return report
