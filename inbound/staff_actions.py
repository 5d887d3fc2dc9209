"""What staff do with a message on the review list or in quarantine (the workspace's
`/inbound`): assign it to a vendor, retry it, or dismiss it. Each takes the message only in the
state it was shown in (a concurrent second action finds it moved and changes nothing), is
audited, and commits; assigning and retrying then run it through the pipeline
(`inbound.pipeline.process_message`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from comms.errors import PermanentError
from comms.models import Vendor, audit
from inbound.models import InboundEmail, InboundStatus

ACTIONABLE = (InboundStatus.REVIEW.value, InboundStatus.QUARANTINED.value)


class MessageActionRefused(PermanentError):
    code = "inbound_action_refused"


class MessageMoved(PermanentError):
    """Someone else acted on the message first."""

    code = "inbound_action_conflict"


def find_vendor(session: Session, text: str) -> Vendor:
    """A vendor by its vendor ID (code), exact name or `#number`."""
    text = text.strip()
    if not text:
        raise MessageActionRefused("name the vendor (its vendor ID or its name)")
    if text.startswith("#") and text[1:].isdigit() and len(text) < 14:
        found = session.get(Vendor, int(text[1:]))
        if found is not None:
            return found
    rows = session.exec(
        select(Vendor).where((col(Vendor.vendor_code) == text) | (col(Vendor.name) == text))
    ).all()
    if len(rows) != 1:
        raise MessageActionRefused(
            f"{text[:60]!r} matches {'no vendor' if not rows else 'more than one vendor'}"
        )
    return rows[0]


def _take(session: Session, inbound_id: int, values: dict[str, object]) -> InboundEmail:
    row = session.get(InboundEmail, inbound_id)
    if row is None:
        raise MessageActionRefused(f"there is no inbound message {inbound_id}")
    if row.status not in ACTIONABLE or (
        row.status == InboundStatus.REVIEW.value and row.reviewed_at is not None
    ):
        raise MessageMoved(f"message {inbound_id} is {row.status} now; nothing was changed")
    done = session.execute(
        update(InboundEmail)
        .where(col(InboundEmail.id) == inbound_id, col(InboundEmail.status) == row.status)
        .values(**values)
    )
    if getattr(done, "rowcount", 1) != 1:
        session.rollback()
        raise MessageMoved(f"someone else acted on message {inbound_id} first")
    session.refresh(row)
    return row


def _requeued() -> dict[str, object]:
    return {
        "status": InboundStatus.STORED.value,
        "quarantine_reason": None,
        "quarantine_code": None,
        "quarantine_permanent": False,
        "lease_until": None,
    }


def assign_message(
    session: Session, inbound_id: int, *, vendor: str, by: str, now: datetime
) -> Vendor:
    """Match a message to a vendor by hand; it is stored again for the pipeline."""
    found = find_vendor(session, vendor)
    _take(
        session,
        inbound_id,
        {
            **_requeued(),
            "vendor_id": found.id,
            "match_method": "staff",
            "reviewed_at": now,
            "reviewed_by": by,
        },
    )
    audit(
        session,
        action="inbound.assign",
        entity="vendor",
        entity_id=found.id,
        actor=by,
        at=now,
        data={"before": {"inbound": inbound_id}, "after": {"vendor": found.id}},
    )
    session.commit()
    return found


def retry_message(session: Session, inbound_id: int, *, by: str, now: datetime) -> None:
    row = _take(session, inbound_id, _requeued())
    audit(
        session,
        action="inbound.retry",
        entity="inbound_email",
        entity_id=row.id,
        actor=by,
        at=now,
        data={"before": {"status": "quarantined"}, "after": {"status": row.status}},
    )
    session.commit()


def dismiss_message(session: Session, inbound_id: int, *, by: str, now: datetime) -> None:
    """Off the review list or out of quarantine for good (the raw message stays stored)."""
    row = session.get(InboundEmail, inbound_id)
    before = row.status if row is not None else None
    taken = _take(
        session,
        inbound_id,
        {"status": InboundStatus.PROCESSED.value, "reviewed_at": now, "reviewed_by": by},
    )
    taken.result = {**(taken.result or {}), "dismissed_by": by}
    session.add(taken)
    audit(
        session,
        action="inbound.dismiss",
        entity="inbound_email",
        entity_id=inbound_id,
        actor=by,
        at=now,
        data={"before": {"status": before}, "after": {"status": "dismissed"}},
    )
    session.commit()
