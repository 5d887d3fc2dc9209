"""SMS delivery statuses from Twilio's status callbacks, applied by progress.

Callbacks arrive out of order (`sent` after `delivered`, `failed` twice): a status is applied
only when it moves the row forward, and a final state is never replaced. A permanent error
(the recipient opted out, an unreachable or landline number) is reported to the workflow,
which moves to its next channel.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, select

from comms.models import Delivery, Vendor
from comms.outbox import notify_failure
from telephony.models import SmsOptOut
from workflows.lifecycle import record_outcome

log = logging.getLogger(__name__)

#: 21610 unsubscribed recipient, 30003 unreachable, 30005 unknown number, 30006 landline
PERMANENT_CODES = frozenset({"21610", "30003", "30005", "30006"})
OPTED_OUT_CODE = "21610"

# Twilio message status → (rank, our delivery status); higher rank wins
_PROGRESS: dict[str, tuple[int, str | None]] = {
    "accepted": (0, None),
    "scheduled": (0, None),
    "queued": (0, None),
    "sending": (1, None),
    "sent": (2, "sent"),
    "delivered": (3, "delivered"),
    "read": (3, "delivered"),
    "undelivered": (4, "failed"),
    "failed": (4, "failed"),
}
_RANK_OF_OURS = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "failed": 4, "bounced": 4}


def apply_sms_status(
    session: Session,
    message_sid: str,
    status: str,
    error_code: str | None,
    *,
    now: datetime,
) -> str:
    """Apply one callback. Returns what happened: unknown, ignored, applied or failed."""
    delivery = session.exec(
        select(Delivery).where(Delivery.provider_message_id == message_sid)
    ).first()
    if delivery is None:
        return "unknown"
    rank, ours = _PROGRESS.get(status, (-1, None))
    current = _RANK_OF_OURS.get(delivery.status, 0)
    if (
        ours is None
        or rank <= current
        or delivery.status in ("delivered", "failed", "bounced", "skipped")
    ):
        return "ignored"
    delivery.status = ours
    delivery.updated_at = now
    if ours != "failed":
        delivery.content = {**delivery.content, "sms_status": status}
        session.add(delivery)
        return "applied"
    delivery.error_code = error_code or None
    delivery.error = f"twilio {status}" + (f" ({error_code})" if error_code else "")
    session.add(delivery)
    if error_code == OPTED_OUT_CODE:
        mirror_carrier_opt_out(session, delivery.recipient, now=now)
    report_failure(session, delivery, permanent=error_code in PERMANENT_CODES, now=now)
    return "failed"


def mirror_carrier_opt_out(session: Session, phone: str, *, now: datetime) -> None:
    """The carrier says the number opted out: mirror it so we stop trying."""
    row = session.exec(select(SmsOptOut).where(SmsOptOut.phone == phone)).first()
    if row is None:
        row = SmsOptOut(phone=phone, keyword="21610", opted_out_at=now)
    row.active = True
    session.add(row)
    for vendor in session.exec(select(Vendor).where(Vendor.phone == phone)).all():
        vendor.opt_out_sms = True
        session.add(vendor)


def report_failure(session: Session, delivery: Delivery, *, permanent: bool, now: datetime) -> None:
    """Tell the workflow. Permanent errors are the `sms_failed` outcome (next channel); other
    failures wake the case through the outbox's failure notice."""
    if delivery.case_id is None:
        return
    if permanent:
        try:
            record_outcome(
                session,
                delivery.case_id,
                "sms_failed",
                now=now,
                data={
                    "step": delivery.step,
                    "delivery_id": delivery.id,
                    "error_code": delivery.error_code,
                },
            )
            return
        except (LookupError, ValueError) as exc:
            log.warning("sms_failed outcome not applied to case %s: %s", delivery.case_id, exc)
    notify_failure(session, delivery, now=now)
