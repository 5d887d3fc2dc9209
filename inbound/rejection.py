"""The notice a sender gets when staff reject the certificate they sent: the reason, in the
thread of their message (In-Reply-To/References to its Message-ID, "Re:" its subject), to the
address that wrote to us. One notice per certificate: the idempotency key is its id.

Certificates that did not come by email (an upload, the roster) have no thread: the notice
then goes to the vendor's agent (or the vendor) as a new message."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from comms.compliance import Verdict
from comms.email.compose import queue_email
from comms.models import Agent, Case, Certificate, Delivery, DeliveryStatus, Vendor
from comms.outbox import is_suppressed
from comms.settings import Settings
from inbound.acknowledge import _recipient_kind, _thread_subject
from inbound.models import InboundEmail

TEMPLATE = "certificate_rejected"


def queue_rejection_notice(
    session: Session,
    certificate: Certificate,
    *,
    reason: str,
    by: str,
    verdict: Verdict,
    now: datetime,
    settings: Settings,
    case: Case | None = None,
) -> Delivery | None:
    """The rejection notice's outbox row (flushed, not committed); None when there is no one
    to send it to (a suppressed sender, no address on file)."""
    vendor = session.get(Vendor, certificate.vendor_id)
    if vendor is None:
        return None
    message = (
        session.get(InboundEmail, certificate.inbound_message_id)
        if certificate.inbound_message_id is not None
        else None
    )
    agent = session.get(Agent, vendor.agent_id) if vendor.agent_id is not None else None
    sender = (message.sender or "").strip().lower() if message is not None else ""
    if sender and ("@" not in sender or is_suppressed(session, "email", sender)):
        return None
    kind = _recipient_kind(sender, vendor, agent) if sender else ("agent" if agent else "vendor")
    row, created = queue_email(
        session,
        idempotency_key=f"reject:certificate:{certificate.id}",
        template=TEMPLATE,
        vendor=vendor,
        recipient_kind=kind,
        now=now,
        case=case,
        verdict=verdict,
        in_reply_to=message.message_id if message is not None else None,
        extra={
            "rejection": {
                "reason": reason,
                "by": by,
                "received_at": certificate.received_at,
                "reference": certificate.reference,
                "subject": (message.subject if message is not None else None) or "",
            }
        },
        settings=settings,
    )
    if not created:
        return row
    if sender:
        row.recipient = sender  # the address that wrote to us, whatever the roster says
        row.content = {**(row.content or {}), "cc": []}
        if row.status == DeliveryStatus.SKIPPED.value and row.error_code != "opted_out":
            row.status = DeliveryStatus.QUEUED.value
            row.error = None
            row.error_code = None
        thread_subject = _thread_subject(message.subject or "") if message is not None else None
        if thread_subject:
            row.subject = thread_subject[:300]
    row.content = {**(row.content or {}), "rejects_certificate": certificate.id}
    session.add(row)
    session.flush()
    return row
