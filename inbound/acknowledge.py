"""The acknowledgment a sender of a certificate gets, in the same thread.

It goes to whoever sent the certificate (the agent on file, the vendor, or a colleague at the
agency writing from another address), with In-Reply-To/References set to their Message-ID and
the subject of their message, and says what was received and exactly what is still missing.
One acknowledgment per inbound message: the idempotency key is the inbound row's id.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from comms.compliance import Verdict
from comms.context_view import policy_view as policy_context
from comms.email.compose import queue_email
from comms.models import Agent, Case, Delivery, DeliveryStatus, Vendor
from comms.outbox import is_suppressed
from comms.settings import Settings
from inbound.certificates import Recorded
from workflows.calendar import org_date

TEMPLATE = "receipt_acknowledgment"
MAX_REFERENCES = 20  # the newest ids of a long thread


def _recipient_kind(sender: str, vendor: Vendor, agent: Agent | None) -> str:
    if (
        vendor.email
        and vendor.email.strip().lower() == sender
        and not (agent and agent.email and agent.email.strip().lower() == sender)
    ):
        return "vendor"
    return "agent"


def hold_reason(received: Recorded, today: date) -> tuple[str | None, date | None]:
    """Why a received certificate does not count, in the acknowledgment's words: `insured`
    (the insured named on it is not the vendor), `expired` (every policy on it ended before
    `today`), `doubtful` (fields read with low confidence), or None; and the latest
    expiration date on it."""
    ends = [p.expiration_date for p in received.policies if p.expiration_date is not None]
    latest = max(ends) if ends else None
    stored = (received.certificate.extraction or {}).get("review_reasons") or []
    reasons = received.review_reasons if received.created else stored
    mismatch = any(str(r).startswith("insured.name") for r in reasons)
    if mismatch and received.certificate.status == "needs_review":
        return "insured", latest
    every_end_known = bool(received.policies) and len(ends) == len(received.policies)
    # a policy is in force up to, not including, its expiration date
    if every_end_known and latest is not None and latest <= today:
        return "expired", latest
    if received.certificate.status == "needs_review":
        return "doubtful", latest
    return None, latest


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
    references: list[str] | None = None,
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
    hold, latest = hold_reason(received, org_date(now, settings))
    extra: dict[str, Any] = {
        "certificate": {
            "received_at": cert.received_at,
            "status": cert.status,
            "source": cert.source,
            "reference": cert.reference,
            "policies": [policy_context(p) for p in received.policies],
            "hold": hold,
            "insured": (cert.extraction.get("insured") or {}).get("name") or None,
            "latest_expiration": latest,
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
    if references:  # the whole thread, so mail clients keep it together
        row.content["references"] = references[-MAX_REFERENCES:]
    if row.status == DeliveryStatus.SKIPPED.value and row.error_code != "opted_out":
        row.status = DeliveryStatus.QUEUED.value
        row.error = None
        row.error_code = None
    thread_subject = _thread_subject(subject)
    if thread_subject:
        row.subject = thread_subject[:300]
    session.add(row)
    return row
