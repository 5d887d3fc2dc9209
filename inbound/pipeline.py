"""The ingest pipeline: one stored message from raw bytes to records, verdict and answer.

`process_message` claims a stored row (status `stored`, or `processing` whose lease ran out),
so a message is processed by one worker at a time and a finished one is never processed again.
The steps, in order:

1. size check (the stored size: an oversized message is never loaded nor parsed; it
   waits in quarantine for `comms inbound retry --force` once the limit is raised), then a
   tolerant parse (`inbound.parse`);
2. classification: ROUTES pairs each classifier of `inbound.classify`, in order, with its
   handler, and the first classifier that answers decides (its name is recorded): a bounce
   suppresses the address and tells the workflow (`inbound.bounces`); an auto-reply is
   logged on the case and never taken as an answer; a reply goes on:
3. correlation (`inbound.correlate`); a reply that matches nothing goes on the review list;
4. the reply's own text goes on the case timeline;
5. documents are stored by sha256 (decoded to files under the data folder while the message
   is parsed, never all held in memory: `inbound.attachments`) and read by the ACORD 25
   extractor with no transaction open (`inbound.documents`);
6. in one transaction: certificates and policies (`inbound.certificates`), the vendor's
   verdict recomputed and its cases synced (resolved, or switched to `deficient`), and an
   acknowledgment queued in the sender's thread (`inbound.acknowledge`);
7. the acknowledgment is enqueued for delivery after the commit.

Anything that fails goes to quarantine with its reason and its code (`comms.failures`:
permanent or transient); `comms inbound retry` runs the transient ones again (every write
above is idempotent: certificates by sha256, the acknowledgment by inbound id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.actors import enqueue_delivery
from comms.db import get_engine
from comms.failures import Failure, failure_of
from comms.redact import redact
from comms.settings import Settings, get_settings
from inbound import classify, handlers
from inbound.attachments import spool_in
from inbound.models import InboundEmail, InboundStatus, raw_deferred
from inbound.outcome import IngestResult
from inbound.parse import MAX_MULTIPARTS, ParsedMail, multipart_count, parse_mail

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)
# the message itself is refused: retrying the same bytes cannot help
TOO_LARGE = Failure("message_too_large", permanent=True)
TOO_DEEP = Failure("mime_too_deep", permanent=True)
Enqueue = Callable[..., None]


def claim(session: Session, inbound_id: int, *, now: datetime) -> InboundEmail | None:
    """Take the row for processing (committed), or None when it is done or held elsewhere."""
    result = session.execute(
        update(InboundEmail)
        .where(
            col(InboundEmail.id) == inbound_id,
            or_(
                col(InboundEmail.status) == InboundStatus.STORED.value,
                (col(InboundEmail.status) == InboundStatus.PROCESSING.value)
                & (col(InboundEmail.lease_until) < now),
            ),
        )
        .values(
            status=InboundStatus.PROCESSING.value,
            lease_until=now + LEASE,
            attempts=InboundEmail.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if getattr(result, "rowcount", 0) != 1:
        return None
    # the raw bytes are loaded when first read: not for a message refused by its size
    return session.get(InboundEmail, inbound_id, populate_existing=True, options=[raw_deferred()])


def quarantine(
    session: Session,
    inbound_id: int,
    reason: str,
    *,
    now: datetime,
    failure: Failure,
    **found: Any,
) -> IngestResult:
    """Put the row in quarantine with ``reason`` and its code (committed)."""
    row = session.get(InboundEmail, inbound_id, populate_existing=True)
    if row is None:
        raise LookupError(f"no inbound message {inbound_id}")
    result = IngestResult(
        inbound_id=inbound_id,
        status="quarantined",
        quarantined=reason,
        quarantine_code=failure.code,
        quarantine_permanent=failure.permanent,
        **found,
    )
    if row.classification and not result.classification:
        result.classification = row.classification
    log.warning("inbound %s quarantined (%s): %s", inbound_id, failure.label, redact(reason))
    return handlers.finish(session, row, result, now=now)


def process_message(
    inbound_id: int,
    *,
    now: datetime,
    engine: Engine | None = None,
    settings: Settings | None = None,
    enqueue: Enqueue | None = None,
) -> IngestResult:
    """Process one stored message (idempotent). Never raises for a bad message."""
    eng = engine or get_engine()
    cfg = settings or get_settings()
    acks: list[int] = []
    with Session(eng, expire_on_commit=False) as session:
        row = claim(session, inbound_id, now=now)
        if row is None:
            existing = session.get(InboundEmail, inbound_id)
            if existing is None:
                raise LookupError(f"no inbound message {inbound_id}")
            return IngestResult.from_row(existing)
        try:
            result = _process(session, row, now=now, settings=cfg, acks=acks)
        except Exception as exc:  # a system error: keep the message, say why
            session.rollback()
            log.exception("inbound %s failed", inbound_id)
            acks.clear()
            reason = f"internal error: {type(exc).__name__}: {exc}"
            result = quarantine(session, inbound_id, reason, now=now, failure=failure_of(exc))
    if acks:
        send = enqueue or enqueue_delivery
        for delivery_id in acks:
            send(delivery_id, now=now)
    return result


def _process(
    session: Session, row: InboundEmail, *, now: datetime, settings: Settings, acks: list[int]
) -> IngestResult:
    assert row.id is not None
    size = row.raw_size or len(row.raw)  # the stored size: the bytes are not loaded for it
    if size > settings.max_message_bytes:
        return quarantine(
            session,
            row.id,
            f"message is {size} bytes, over COMMS_MAX_MESSAGE_BYTES "
            f"({settings.max_message_bytes}); not parsed",
            now=now,
            failure=TOO_LARGE,
        )
    containers = multipart_count(row.raw)
    if containers > MAX_MULTIPARTS:  # refused before the parser recurses into it
        return quarantine(
            session,
            row.id,
            f"MIME structure too deeply nested ({containers} multipart parts; at most "
            f"{MAX_MULTIPARTS})",
            now=now,
            failure=TOO_DEEP,
        )
    # the documents are decoded to files under the data folder as they are parsed, and
    # stored from there; what is left when the message is done is removed
    with spool_in(settings.documents_dir, max_part=settings.max_attachment_bytes) as spool:
        return _route(session, row, parse_mail(row.raw, spool=spool), now, settings, acks)


def _route(
    session: Session,
    row: InboundEmail,
    parsed: ParsedMail,
    now: datetime,
    settings: Settings,
    acks: list[int],
) -> IngestResult:
    assert row.id is not None
    row.sender = parsed.sender or None
    row.subject = parsed.subject or None
    row.message_id = row.message_id or parsed.message_id
    base = IngestResult(inbound_id=row.id, defects=parsed.defects)
    job = handlers.Job(session, row, parsed, base, now, settings, acks)
    for classifier, handler in ROUTES:
        kind = classifier(parsed.msg, parsed.text)
        if kind is not None:
            base.reason = kind.reason
            base.classifier = kind.classifier
            return handler(job, kind)
    raise AssertionError("the last classifier answers every message")


# The classifiers in order (`inbound.classify.CLASSIFIERS`), each with what is done with the
# messages it claims. The first classifier that answers decides.
ROUTES: tuple[tuple[classify.Classifier, handlers.Handler], ...] = (
    (classify.standard_bounce, handlers.bounce),
    (classify.prose_bounce, handlers.bounce),
    (classify.auto_reply, handlers.auto_reply),
    (classify.human_reply, handlers.reply),
)


def stale_messages(session: Session, *, now: datetime, older_than: timedelta) -> list[int]:
    """Stored rows whose job never ran, and rows whose worker died holding them."""
    rows = session.exec(
        select(InboundEmail.id).where(
            or_(
                (col(InboundEmail.status) == InboundStatus.STORED.value)
                & (col(InboundEmail.received_at) < now - older_than),
                (col(InboundEmail.status) == InboundStatus.PROCESSING.value)
                & (col(InboundEmail.lease_until) < now),
            )
        )
    ).all()
    return [int(i) for i in rows if i is not None]
