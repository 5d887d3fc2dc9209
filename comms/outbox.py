"""The outbox: idempotent delivery rows and the state machine that sends them.

    queued → sending → sent / failed / bounced   (and → delivered for provider receipts)

Creating the same delivery twice (same idempotency key) yields one row. Delivering a row that
is no longer `queued` does nothing. A row is claimed by moving it to `sending` with a lease in
one conditional UPDATE, so two workers never send one row; a sweep returns rows whose lease
ran out to `queued`.

Leases are wall-clock time (never the simulated `--now`), so a tick run with a far-future
`--now` does not take rows away from a worker that is sending them. A worker renews the leases
of the rows it holds every few seconds (`comms.delivery_batch`), so a lease runs out only when
its worker is gone: `SEND_LEASE` (`COMMS_SMTP_TIMEOUT` + 15 s, 45 s by default) after the
last renewal; the next sweep then re-queues the row.

The one window in which a crash can repeat a send: after the server accepted the message and
before the row says `sent`. Email carries the same Message-ID both times, so most clients show
one message. The window is narrowed twice:
- outcomes are recorded at least every `RECORD_SECONDS` and every `RECORD_EVERY` sends, and no
  row is handed to a sender while `RECORD_EVERY` outcomes wait (or while they cannot be
  written: a database outage stops the senders, and the outcomes are kept and retried until
  written) — so at most `RECORD_EVERY` + the senders in flight (2 × `COMMS_SMTP_CONNECTIONS`)
  rows per worker process, 40 by default (one stream at a time per process);
- the server's reply is appended to a local journal before it is recorded
  (`comms.outbox_journal`); the sweep marks the rows of a dead worker's journal `sent` before
  it re-queues anything. What is left: the sends in flight when the process died (accepted,
  reply not yet read), at most 2 × `COMMS_SMTP_CONNECTIONS`, and rows of a worker on another
  machine whose journal the sweep cannot read.
Never a row that was not handed to the server, never a row whose outcome was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from comms.channels import SendOutcome
from comms.models import Case, CaseEvent, Delivery, DeliveryStatus, Suppression
from comms.timeutil import utcnow

SEND_LEASE = timedelta(seconds=45)  # the default: see `send_lease`
REENQUEUE_AFTER = timedelta(minutes=2)  # a queued row the sweep enqueued waits this long
SWEEP_GRACE = timedelta(minutes=1)  # a row just written waits for its first message
SUPPRESSED = "recipient is on the suppression list"
MAX_ATTEMPTS = 6
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))


@dataclass(frozen=True)
class NewDelivery:
    idempotency_key: str
    channel: str
    recipient: str
    template: str
    recipient_kind: str = "vendor"
    vendor_id: int | None = None
    case_id: int | None = None
    step: str | None = None
    subject: str | None = None
    body_text: str | None = None
    body_html: str | None = None
    content: dict[str, Any] | None = None
    in_reply_to: str | None = None


def create_delivery(session: Session, new: NewDelivery, *, now: datetime) -> tuple[Delivery, bool]:
    """Insert the delivery unless its key exists. Returns (row, created)."""
    found = session.exec(
        select(Delivery).where(Delivery.idempotency_key == new.idempotency_key)
    ).first()
    if found is not None:
        return found, False
    row = Delivery(
        idempotency_key=new.idempotency_key,
        channel=new.channel,
        recipient=new.recipient,
        recipient_kind=new.recipient_kind,
        vendor_id=new.vendor_id,
        case_id=new.case_id,
        step=new.step,
        template=new.template,
        subject=new.subject,
        body_text=new.body_text,
        body_html=new.body_html,
        content=new.content or {},
        in_reply_to=new.in_reply_to,
        status=DeliveryStatus.QUEUED.value,
        created_at=now,
        updated_at=now,
    )
    if is_suppressed(session, new.channel, new.recipient):
        row.status = DeliveryStatus.SKIPPED.value
        row.error = SUPPRESSED
        row.error_code = "suppressed"
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent creator won the race
        found = session.exec(
            select(Delivery).where(Delivery.idempotency_key == new.idempotency_key)
        ).one()
        return found, False
    return row, True


def send_lease(smtp_timeout: float) -> timedelta:
    """How long a claimed row stays ours without a renewal: a whole send and a margin."""
    return timedelta(seconds=smtp_timeout + 15)


def claim(
    session: Session,
    delivery_id: int,
    *,
    now: datetime,
    lease: timedelta = SEND_LEASE,
    wall: datetime | None = None,
) -> Delivery | None:
    """Move a queued row to sending (atomic). None when it is not ours to send. The lease
    runs from `wall` (the real clock by default), not from `now`."""
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.id) == delivery_id,
            col(Delivery.status) == DeliveryStatus.QUEUED.value,
            (col(Delivery.next_attempt_at).is_(None)) | (col(Delivery.next_attempt_at) <= now),
        )
        .values(
            status=DeliveryStatus.SENDING.value,
            lease_until=(wall or utcnow()) + lease,
            attempts=Delivery.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if getattr(result, "rowcount", 0) != 1:
        return None
    row = session.get(Delivery, delivery_id, populate_existing=True)
    return row


def is_suppressed(session: Session, channel: str, address: str) -> bool:
    return (
        session.exec(
            select(Suppression.id).where(
                Suppression.channel == channel,
                Suppression.address == normalize_address(channel, address),
                col(Suppression.cleared_at).is_(None),
            )
        ).first()
        is not None
    )


def normalize_address(channel: str, address: str) -> str:
    return address.strip().lower() if channel == "email" else address.strip()


def suppress(
    session: Session,
    channel: str,
    address: str,
    *,
    reason: str,
    now: datetime,
    source: str | None = None,
) -> Suppression:
    """Put an address on the suppression list (or re-arm a cleared entry)."""
    key = normalize_address(channel, address)
    row = session.exec(
        select(Suppression).where(Suppression.channel == channel, Suppression.address == key)
    ).first()
    if row is None:
        row = Suppression(
            channel=channel, address=key, reason=reason, source=source, created_at=now
        )
    else:
        row.reason = reason
        row.cleared_at = None
        row.cleared_by = None
    session.add(row)
    session.flush()
    return row


def clear_suppression(
    session: Session, channel: str, address: str, *, by: str, now: datetime
) -> bool:
    row = session.exec(
        select(Suppression).where(
            Suppression.channel == channel,
            Suppression.address == normalize_address(channel, address),
            col(Suppression.cleared_at).is_(None),
        )
    ).first()
    if row is None:
        return False
    row.cleared_at = now
    row.cleared_by = by
    session.add(row)
    return True


DONE = ("sent", "delivered", "skipped")


def done_changes(delivery: Delivery, outcome: SendOutcome, *, now: datetime) -> dict[str, Any]:
    """The column values of a claimed row whose outcome is final and good (`DONE`): the same
    keys for every row, so many rows are recorded with one executemany."""
    return {
        "status": outcome.status,
        "updated_at": now,
        "lease_until": None,
        "provider_message_id": outcome.provider_message_id or delivery.provider_message_id,
        "message_id": outcome.message_id or delivery.message_id,
        "error": outcome.error,
        "error_code": outcome.error_code,
        "sent_at": now if outcome.status != "skipped" else None,
        "next_attempt_at": None,
    }


def apply_outcome(
    session: Session, delivery: Delivery, outcome: SendOutcome, *, now: datetime
) -> Delivery:
    """Record a sender's outcome on a claimed row and tell the workflow about failures."""
    if outcome.status in DONE:
        for name, value in done_changes(delivery, outcome, now=now).items():
            setattr(delivery, name, value)
        session.add(delivery)
        return delivery
    delivery.updated_at = now
    delivery.lease_until = None
    delivery.enqueued_at = None
    if outcome.provider_message_id:
        delivery.provider_message_id = outcome.provider_message_id
    if outcome.message_id:
        delivery.message_id = outcome.message_id
    delivery.error = outcome.error
    delivery.error_code = outcome.error_code
    if outcome.status == "retry" and delivery.attempts < MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.QUEUED.value
        delivery.next_attempt_at = now + BACKOFF[min(delivery.attempts - 1, len(BACKOFF) - 1)]
    else:
        delivery.status = (
            DeliveryStatus.BOUNCED.value
            if outcome.status == "bounced"
            else DeliveryStatus.FAILED.value
        )
        delivery.next_attempt_at = None
        if outcome.status == "retry":
            delivery.error = f"gave up after {delivery.attempts} attempts: {outcome.error}"
        notify_failure(session, delivery, now=now)
    session.add(delivery)
    return delivery


def notify_failure(session: Session, delivery: Delivery, *, now: datetime) -> None:
    """Tell the workflow: a timeline event on the case, and the case is woken up now."""
    if delivery.case_id is None:
        return
    session.add(
        CaseEvent(
            case_id=delivery.case_id,
            at=now,
            kind=f"delivery_{delivery.status}",
            step=delivery.step,
            reason=delivery.error or delivery.status,
            data={
                "delivery_id": delivery.id,
                "channel": delivery.channel,
                "error_code": delivery.error_code,
            },
        )
    )
    case = session.get(Case, delivery.case_id)
    if case is not None and case.state in ("active", "waiting"):
        case.next_action_at = now
        case.updated_at = now
        session.add(case)


def stale_deliveries(
    session: Session, *, now: datetime, wall: datetime | None = None, limit: int = 1000
) -> list[int]:
    """The rows the sweep enqueues, only the orphaned ones:
    - rows stuck in `sending` past their lease (wall clock: their worker is gone), re-queued
      here;
    - `queued` due rows no sweep enqueued in the last `REENQUEUE_AFTER` (a message the broker
      lost), except rows written in the last `SWEEP_GRACE` whose first message may still be
      on its way.
    So a row waiting in the broker is not enqueued again on every pass. The caller marks what
    it enqueued (`mark_enqueued`)."""
    wall = wall or utcnow()
    expired = [
        i
        for i in session.exec(
            select(Delivery.id).where(
                col(Delivery.status) == DeliveryStatus.SENDING.value,
                col(Delivery.lease_until) < wall,
            )
        ).all()
        if i is not None
    ]
    if expired:
        session.execute(
            update(Delivery)
            .where(
                col(Delivery.id).in_(expired),
                col(Delivery.status) == DeliveryStatus.SENDING.value,
                col(Delivery.lease_until) < wall,
            )
            .values(status=DeliveryStatus.QUEUED.value, lease_until=None, enqueued_at=None)
            .execution_options(synchronize_session=False)
        )
    never = col(Delivery.enqueued_at).is_(None) & (col(Delivery.updated_at) <= now - SWEEP_GRACE)
    waiting = (
        select(Delivery.id)
        .where(
            col(Delivery.status) == DeliveryStatus.QUEUED.value,
            (col(Delivery.next_attempt_at).is_(None)) | (col(Delivery.next_attempt_at) <= now),
            never | (col(Delivery.enqueued_at) < wall - REENQUEUE_AFTER),
        )
        .order_by(col(Delivery.id))
        .limit(limit)
    )
    ids = set(expired[:limit])
    ids.update(i for i in session.exec(waiting).all() if i is not None)
    return sorted(ids)[:limit]


def mark_enqueued(session: Session, ids: list[int], *, wall: datetime | None = None) -> None:
    """Note that these queued rows were just handed to the broker (`stale_deliveries`)."""
    if ids:
        session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(ids), col(Delivery.status) == DeliveryStatus.QUEUED.value)
            .values(enqueued_at=wall or utcnow())
            .execution_options(synchronize_session=False)
        )
