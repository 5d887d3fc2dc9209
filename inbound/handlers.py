"""What is done with an inbound message of each kind, once a classifier has named it.

`inbound.pipeline.ROUTES` pairs each classifier with one of these handlers: `bounce`
suppresses the failed addresses and tells the workflow (`inbound.bounces`); `auto_reply` logs
the message on its case; `reply` correlates it, puts its text on the case timeline, reads its
documents and records their certificates, recomputes the verdict and queues the
acknowledgment (or puts a message that matches nothing on the review list). Each finishes
the row (committed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from comms.failures import Failure
from comms.models import Case, CaseEvent, Vendor, audit
from comms.redact import redact
from comms.settings import Settings
from comms.stored_verdicts import refresh_vendor
from inbound.acknowledge import queue_acknowledgment
from inbound.bounces import handle_bounce
from inbound.certificates import Recorded, certificate_json, record_certificate
from inbound.classify import Classification
from inbound.correlate import Match, correlate
from inbound.documents import Documents, read_documents
from inbound.models import InboundEmail, InboundStatus
from inbound.outcome import IngestResult, verdict_json
from inbound.parse import ParsedMail
from inbound.replytext import new_text
from workflows.lifecycle import add_event, open_cases, sync_vendor

log = logging.getLogger(__name__)

# a refused attachment fails the same way again: retrying the same bytes cannot help
ATTACHMENT_REFUSED = Failure("attachment_refused", permanent=True)


def finish(
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


@dataclass
class Job:
    """One message being processed: what every handler works with."""

    session: Session
    row: InboundEmail
    parsed: ParsedMail
    result: IngestResult
    now: datetime
    settings: Settings
    acks: list[int]


def bounce(job: Job, kind: Classification) -> IngestResult:
    """Suppress the failed addresses and tell the workflow (`inbound.bounces`)."""
    assert job.row.id is not None
    job.result.classification = "bounce"
    report = handle_bounce(
        job.session, job.parsed.msg, kind.permanent_failures, inbound_id=job.row.id, now=job.now
    )
    job.result.bounce = {**report.to_json(), "temporary": sorted(kind.temporary_failures)}
    return finish(job.session, job.row, job.result, now=job.now)


def _correlated(job: Job) -> Match | None:
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


def auto_reply(job: Job, kind: Classification) -> IngestResult:
    """Logged on the case, never taken as an answer."""
    match = _correlated(job)
    job.result.classification = "auto_reply"
    _timeline(job.session, job.row, match, "auto_reply", kind.reason, job.parsed, now=job.now)
    return finish(job.session, job.row, job.result, now=job.now)


def reply(job: Job, kind: Classification) -> IngestResult:
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


Handler = Callable[[Job, Classification], IngestResult]


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
    return finish(session, row, result, now=now)


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
    assert vendor.id is not None
    verdict = refresh_vendor(
        session, vendor.id, now=now, reason=f"certificate received (inbound message {row.id})"
    )
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
        references=parsed.thread(),
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
