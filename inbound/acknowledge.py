"""The acknowledgment a sender of a certificate gets, in the same thread.

It goes to whoever sent the certificate (the agent on file, the vendor, or a colleague at the
agency writing from another address), with In-Reply-To/References set to their Message-ID and
the subject of their message, and says what was received and exactly what is still missing.
One acknowledgment per inbound message: the idempotency key is the inbound row's id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from comms.compliance import Verdict
from comms.context_view import policy_view as policy_context
from comms.email.compose import queue_email
from comms.models import Agent, Case, Delivery, DeliveryStatus, Vendor
from comms.outbox import is_suppressed
from comms.settings import Settings
from inbound.certificates import Recorded

TEMPLATE = "receipt_acknowledgment"


def _recipient_kind(sender: str, vendor: Vendor, agent: Agent | None) -> str:
    if (
        vendor.email
        and vendor.email.strip().lower() == sender
        and not (agent and agent.email and agent.email.strip().lower() == sender)
    ):
        return "vendor"
    return "agent"


def _thread_subject(subject: str) -> str | None:
    subject = subject.strip()
    if not subject:
        return None
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def queue_acknowledgment(
    session: Session,
    *,
    inbound_id: int,
    sender: str,
    in_reply_to: str | None,
    subject: str,
    vendor: Vendor,
    case: Case | None,
    verdict: Verdict,
    received: Recorded,
    now: datetime,
    settings: Settings,
) -> Delivery | None:
    """Create the acknowledgment's outbox row (not committed); None when it cannot be sent."""
    if not sender or "@" not in sender or is_suppressed(session, "email", sender):
        return None
    agent = session.get(Agent, vendor.agent_id) if vendor.agent_id is not None else None
    cert = received.certificate
    extra: dict[str, Any] = {
        "certificate": {
            "received_at": cert.received_at,
            "status": cert.status,
            "reference": cert.reference,
            "policies": [policy_context(p) for p in received.policies],
        }
    }
    row, created = queue_email(
        session,
        idempotency_key=f"ack:inbound:{inbound_id}",
        template=TEMPLATE,
        vendor=vendor,
        recipient_kind=_recipient_kind(sender, vendor, agent),
        now=now,
        case=case,
        verdict=verdict,
        in_reply_to=in_reply_to,
        extra=extra,
        settings=settings,
    )
    if not created:
        return row
    # To the address that wrote to us, whatever the roster says.
    row.recipient = sender
    row.content = {**(row.content or {}), "cc": [], "acknowledges_inbound": inbound_id}
    if row.status == DeliveryStatus.SKIPPED.value and row.error_code != "opted_out":
        row.status = DeliveryStatus.QUEUED.value
        row.error = None
        row.error_code = None
    thread_subject = _thread_subject(subject)
    if thread_subject:
        row.subject = thread_subject[:300]
    session.add(row)
    return row
