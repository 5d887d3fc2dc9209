"""Create many outbox rows in one statement, with the rules of `comms.outbox.create_delivery`.

A key that exists already (or comes twice in one call) yields no new row; a recipient on the
suppression list gets a `skipped` row, and so does one the caller marks unsendable (a reason
from `comms.email.compose.SKIP_ERRORS`). Does not commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlmodel import Session

from comms.bulk_sql import among
from comms.executemany import insert_many
from comms.models import Delivery, DeliveryStatus, Suppression
from comms.outbox import SUPPRESSED, NewDelivery, normalize_address

CHUNK = 1000
DELIVERY_COLUMNS = (
    "idempotency_key",
    "channel",
    "recipient",
    "recipient_kind",
    "vendor_id",
    "case_id",
    "step",
    "template",
    "subject",
    "body_text",
    "body_html",
    "content",
    "in_reply_to",
    "status",
    "attempts",
    "error",
    "error_code",
    "created_at",
    "updated_at",
)
Skip = tuple[str, str | None, str | None]  # status, error, error code


@dataclass(frozen=True)
class Created:
    id: int
    created: bool


def _table(model: Any) -> Table:
    return model.__table__


def _existing(session: Session, keys: list[str]) -> dict[str, int]:
    t, conn = _table(Delivery), session.connection()
    found: dict[str, int] = {}
    for start in range(0, len(keys), CHUNK):
        query = select(t.c.idempotency_key, t.c.id).where(
            among(conn, t.c.idempotency_key, keys[start : start + CHUNK])
        )
        found.update((k, i) for k, i in conn.execute(query).all())
    return found


def suppressed_addresses(session: Session, wanted: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (channel, normalized address) pairs of `wanted` that are suppressed now."""
    t, conn = _table(Suppression), session.connection()
    normalized = {(ch, normalize_address(ch, addr)) for ch, addr in wanted}
    addresses = sorted({addr for _, addr in normalized})
    found: set[tuple[str, str]] = set()
    for start in range(0, len(addresses), CHUNK):
        rows = conn.execute(
            select(t.c.channel, t.c.address).where(
                among(conn, t.c.address, addresses[start : start + CHUNK]),
                t.c.cleared_at.is_(None),
            )
        ).all()
        found.update((ch, addr) for ch, addr in rows if (ch, addr) in normalized)
    return found


def skip_state(
    new: NewDelivery,
    reason: str | None,
    suppressed: set[tuple[str, str]],
    skip_errors: dict[str, str],
) -> Skip:
    """A new row's status, error and error code: `skipped` when its recipient is suppressed
    (`suppressed_addresses`) or it cannot be sent for `reason`, else `queued`."""
    if suppressed and (new.channel, normalize_address(new.channel, new.recipient)) in suppressed:
        return DeliveryStatus.SKIPPED.value, SUPPRESSED, "suppressed"
    if reason is not None:
        return DeliveryStatus.SKIPPED.value, skip_errors[reason], reason
    return DeliveryStatus.QUEUED.value, None, None


def row_values(new: NewDelivery, state: Skip, now: datetime) -> list[Any]:
    """A new row's values, in the order of `DELIVERY_COLUMNS`."""
    status, error, error_code = state
    return [
        new.idempotency_key,
        new.channel,
        new.recipient,
        new.recipient_kind,
        new.vendor_id,
        new.case_id,
        new.step,
        new.template,
        new.subject,
        new.body_text,
        new.body_html,
        new.content or {},
        new.in_reply_to,
        status,
        0,
        error,
        error_code,
        now,
        now,
    ]


def create_deliveries(
    session: Session,
    items: Sequence[tuple[NewDelivery, str | None]],
    *,
    now: datetime,
    skip_errors: dict[str, str],
) -> list[Created]:
    """Insert each (new row, reason it cannot be sent or None) unless its key exists.
    Returns, in order, each row's id and whether this call created it."""
    if not items:
        return []
    keys = [new.idempotency_key for new, _ in items]
    existing = _existing(session, keys)
    suppressed = suppressed_addresses(
        session, {(new.channel, new.recipient) for new, _ in items if new.recipient}
    )
    values: list[dict[str, Any]] = []
    planned: set[str] = set()
    for new, reason in items:
        key = new.idempotency_key
        if key in existing or key in planned:
            continue
        planned.add(key)
        state = skip_state(new, reason, suppressed, skip_errors)
        values.append(dict(zip(DELIVERY_COLUMNS, row_values(new, state, now), strict=True)))
    created: dict[str, int] = {}
    for start in range(0, len(values), CHUNK):
        returned = insert_many(
            session.connection(),
            _table(Delivery),
            values[start : start + CHUNK],
            returning=("idempotency_key", "id"),
            skip_conflicts_on="idempotency_key",
        )
        created.update((k, i) for k, i in returned)
    late = [k for k in planned if k not in created]  # a concurrent creator won the race
    existing.update(_existing(session, late) if late else {})
    out: list[Created] = []
    for key in keys:
        if key in created:
            out.append(Created(created.pop(key), True))
            existing[key] = out[-1].id  # the same key again in `items`: not created twice
        else:
            out.append(Created(existing[key], False))
    return out
