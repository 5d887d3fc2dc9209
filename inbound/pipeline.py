"""The ingest pipeline: one stored message from raw bytes to records, verdict and answer.

`process_message` claims a stored row (status `stored`, or `processing` whose lease ran out),
so a message is processed by one worker at a time and a finished one is never processed again.
The steps, in order:

1. size check, then a tolerant parse (`inbound.parse`);
2. classification (`inbound.classify`): a bounce suppresses the address and tells the workflow
   (`inbound.bounces`); an auto-reply is logged on the case and never taken as an answer;
3. correlation (`inbound.correlate`); a reply that matches nothing goes on the review list;
4. the reply's own text goes on the case timeline;
5. documents are stored by sha256 and read by the ACORD 25 extractor with no transaction open
   (`inbound.documents`);
6. in one transaction: certificates and policies (`inbound.certificates`), the vendor's
   verdict recomputed and its cases synced (resolved, or switched to `deficient`), and an
   acknowledgment queued in the sender's thread (`inbound.acknowledge`);
7. the acknowledgment is enqueued for delivery after the commit.

Anything that fails goes to quarantine with its reason; `comms inbound retry` runs it again
(every write above is idempotent: certificates by sha256, the acknowledgment by inbound id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.actors import enqueue_delivery
from comms.db import get_engine
from comms.failures import Failure, failure_of
from comms.models import Case, CaseEvent, Vendor, audit
from comms.redact import redact
from comms.settings import Settings, get_settings
from comms.verdicts import vendor_verdict
from inbound.acknowledge import queue_acknowledgment
from inbound.bounces import handle_bounce
from inbound.certificates import Recorded, certificate_json, record_certificate
from inbound.classify import (
    Classification,
    Classifier,
    auto_reply,
    human_reply,
    prose_bounce,
    standard_bounce,
)
from inbound.correlate import Match, correlate
from inbound.documents import Documents, read_documents
from inbound.models import InboundEmail, InboundStatus
from inbound.outcome import IngestResult, verdict_json
from inbound.parse import ParsedMail, parse_mail
from inbound.replytext import new_text
from workflows.calendar import org_date
from workflows.lifecycle import add_event, open_cases, sync_vendor

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)
# the message itself is refused: retrying the same bytes cannot help
TOO_LARGE = Failure("message_too_large", permanent=True)
ATTACHMENT_REFUSED = Failure("attachment_refused", permanent=True)
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
    return session.get(InboundEmail, inbound_id, populate_existing=True)


def _finish(
    session: Session,
    row: InboundEmail,
    result: IngestResult,
    *,
    now: datetime,
) -> IngestResult:
    row.status = result.status
    row.classification = result.classification
    row.quarantine_reason = result.quarantined
    row.quarantine_code = result.quarantine_code
    row.quarantine_permanent = result.quarantine_permanent
    row.lease_until = None
    row.processed_at = now
    row.result = result.to_json()
    session.add(row)
    session.commit()
    return result


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
    return _finish(session, row, result, now=now)


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


@dataclass
class _Job:
    """One message being processed: what every handler works with."""

    session: Session
    row: InboundEmail
    parsed: ParsedMail
    result: IngestResult
    now: datetime
    settings: Settings
    acks: list[int]


def _process(
    session: Session, row: InboundEmail, *, now: datetime, settings: Settings, acks: list[int]
) -> IngestResult:
    assert row.id is not None
    if row.raw_size > settings.max_message_bytes or len(row.raw) > settings.max_message_bytes:
        return quarantine(
            session,
            row.id,
            f"message is {len(row.raw)} bytes, over COMMS_MAX_MESSAGE_BYTES "
            f"({settings.max_message_bytes})",
            now=now,
            failure=TOO_LARGE,
        )
    parsed = parse_mail(row.raw)
    row.sender = parsed.sender or None
    row.subject = parsed.subject or None
    row.message_id = row.message_id or parsed.message_id
    base = IngestResult(inbound_id=row.id, defects=parsed.defects)
    job = _Job(session, row, parsed, base, now, settings, acks)
    for classifier, handler in ROUTES:
        kind = classifier(parsed.msg, parsed.text)
        if kind is not None:
            base.reason = kind.reason
            base.classifier = kind.classifier
            return handler(job, kind)
    raise AssertionError("the last classifier answers every message")


def _bounce(job: _Job, kind: Classification) -> IngestResult:
    """Suppress the failed addresses and tell the workflow (`inbound.bounces`)."""
    assert job.row.id is not None
    job.result.classification = "bounce"
    report = handle_bounce(
        job.session, job.parsed.msg, kind.permanent_failures, inbound_id=job.row.id, now=job.now
    )
    job.result.bounce = {**report.to_json(), "temporary": sorted(kind.temporary_failures)}
    return _finish(job.session, job.row, job.result, now=job.now)


def _correlated(job: _Job) -> Match | None:
    """The message's vendor and case (or the vendor staff assigned it to), noted on the row;
    the read transaction ends here, before the slow part."""
    row = job.row
    match = correlate(job.session, job.parsed.msg, job.settings)
    if match is None and row.match_method == "staff" and row.vendor_id is not None:
        open_ids = [c.id for c in open_cases(job.session, row.vendor_id) if c.id is not None]
        match = Match(row.vendor_id, open_ids[0] if open_ids else None, "staff")
    _matched(job.session, row, job.result, match)
    job.session.commit()
    return match


def _auto_reply(job: _Job, kind: Classification) -> IngestResult:
    """Logged on the case, never taken as an answer."""
    match = _correlated(job)
    job.result.classification = "auto_reply"
    _timeline(job.session, job.row, match, "auto_reply", kind.reason, job.parsed, now=job.now)
    return _finish(job.session, job.row, job.result, now=job.now)


def _reply(job: _Job, kind: Classification) -> IngestResult:
    """A person's answer: its text on the case, its certificates read and recorded; one that
    matches nothing goes on the review list."""
    session, row, base, now, settings = job.session, job.row, job.result, job.now, job.settings
    match = _correlated(job)
    base.classification = "reply" if match else "unmatched"
    base.reply_text = new_text(job.parsed.text)
    row.reply_text = base.reply_text or None
    docs = read_documents(
        job.parsed.msg,
        root=settings.documents_dir,
        max_part=settings.max_attachment_bytes,
        max_total=settings.max_message_bytes,
    )
    base.documents = docs.to_json()
    if match is None:
        base.status = InboundStatus.REVIEW.value
        base.certificates = [_unrecorded(d) for d in docs.certificates]
        audit(session, action="inbound.unmatched", entity="inbound_email", entity_id=row.id, at=now)
        return _close(session, row, base, docs, now=now)
    _apply(session, row, base, match, job.parsed, docs, now=now, settings=settings, acks=job.acks)
    return _close(session, row, base, docs, now=now)


Handler = Callable[[_Job, Classification], IngestResult]

# The classifiers in order (`inbound.classify.CLASSIFIERS`), each with what is done with the
# messages it claims. The first classifier that answers decides.
ROUTES: tuple[tuple[Classifier, Handler], ...] = (
    (standard_bounce, _bounce),
    (prose_bounce, _bounce),
    (auto_reply, _auto_reply),
    (human_reply, _reply),
)


def _close(
    session: Session, row: InboundEmail, result: IngestResult, docs: Documents, *, now: datetime
) -> IngestResult:
    reason = docs.refusal_reason()
    if reason is not None:
        result.status = InboundStatus.QUARANTINED.value
        result.quarantined = f"attachment refused: {reason}"
        result.quarantine_code = ATTACHMENT_REFUSED.code
        result.quarantine_permanent = ATTACHMENT_REFUSED.permanent
        log.info("inbound %s quarantined: %s", row.id, redact(result.quarantined))
    return _finish(session, row, result, now=now)


def _matched(
    session: Session, row: InboundEmail, result: IngestResult, match: Match | None
) -> None:
    if match is None:
        return
    vendor = session.get(Vendor, match.vendor_id)
    case = session.get(Case, match.case_id) if match.case_id is not None else None
    row.vendor_id = match.vendor_id
    row.case_id = match.case_id
    row.match_method = match.method
    result.matched = {
        "vendor": {"id": match.vendor_id, "name": vendor.name if vendor else None},
        "case": ({"id": case.id, "trigger": case.trigger, "state": case.state} if case else None),
        "method": match.method,
        "forged_token": match.forged_token,
    }


def _timeline(
    session: Session,
    row: InboundEmail,
    match: Match | None,
    kind: str,
    reason: str,
    parsed: ParsedMail,
    *,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    """Note the message on its case (the matched one, else the vendor's open case)."""
    if match is None:
        return
    case_ids = [match.case_id] if match.case_id is not None else []
    if not case_ids:
        case_ids = [c.id for c in open_cases(session, match.vendor_id) if c.id is not None]
    for case_id in case_ids:
        case = session.get(Case, case_id)
        if case is None or (row.attempts > 1 and _noted(session, case_id, kind, row.id)):
            continue
        add_event(
            session,
            case,
            kind,
            now=now,
            reason=reason,
            data={"inbound_id": row.id, "subject": parsed.subject, **(data or {})},
        )


def _noted(session: Session, case_id: int, kind: str, inbound_id: int | None) -> bool:
    """Whether an earlier attempt already put this message on the case's timeline."""
    events = session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
    ).all()
    return any(e.data.get("inbound_id") == inbound_id for e in events)


def _apply(
    session: Session,
    row: InboundEmail,
    result: IngestResult,
    match: Match,
    parsed: ParsedMail,
    docs: Documents,
    *,
    now: datetime,
    settings: Settings,
    acks: list[int],
) -> None:
    vendor = session.get(Vendor, match.vendor_id)
    assert vendor is not None and row.id is not None
    recorded: list[Recorded] = [
        record_certificate(
            session,
            vendor,
            doc.extraction,
            document_path=str(doc.path),
            sha256=doc.sha256,
            reference=parsed.message_id,
            inbound_id=row.id,
            now=now,
        )
        for doc in docs.certificates
    ]
    result.certificates = [certificate_json(r) for r in recorded]
    _timeline(
        session,
        row,
        match,
        "reply_received",
        result.reply_text or "(no text)",
        parsed,
        now=now,
        data={"certificates": [r.certificate.id for r in recorded], "text": result.reply_text},
    )
    if not recorded:
        return
    verdict = vendor_verdict(session, vendor, org_date(now, settings))
    cases = sync_vendor(
        session,
        vendor,
        verdict,
        now=now,
        reason=f"certificate received by email (inbound message {row.id})",
        settings=settings,
    )
    result.verdict = verdict_json(verdict)
    result.cases = [{"id": c.id, "trigger": c.trigger, "state": c.state} for c in cases]
    case = cases[0] if cases else (session.get(Case, match.case_id) if match.case_id else None)
    chosen = next((r for r in recorded if r.certificate.status == "accepted"), recorded[0])
    ack = queue_acknowledgment(
        session,
        inbound_id=row.id,
        sender=parsed.sender,
        in_reply_to=parsed.message_id,
        subject=parsed.subject,
        vendor=vendor,
        case=case,
        verdict=verdict,
        received=chosen,
        now=now,
        settings=settings,
    )
    if ack is not None:
        session.flush()
        result.acknowledgment = ack.id
        if ack.status == "queued" and ack.id is not None:
            acks.append(ack.id)


def _unrecorded(doc: Any) -> dict[str, Any]:
    data = doc.extraction.data
    return {
        "id": None,
        "status": "unmatched",
        "document_sha256": doc.sha256,
        "insured": (data.get("insured") or {}).get("name"),
        "producer": (data.get("producer") or {}).get("name"),
        "policies": len(data.get("policies") or []),
    }


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
