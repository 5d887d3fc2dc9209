"""What a caller's choice does: send the requirements, resend the request to the agent, text
how to send the certificate, talk to a person. Everything is written to the database (outbox
rows, tasks); the caller gets the delivery ids to enqueue after the response is sent."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, col, select

from comms.context import template_context
from comms.email.compose import queue_email
from comms.models import OPEN_STATES, Case, Vendor
from comms.outbox import NewDelivery, create_delivery
from comms.settings import Settings, get_settings
from comms.stored_verdicts import verdict_on
from telephony import render
from telephony.hours import HoursError, call_center_open, next_opening
from telephony.models import CallTask
from telephony.tasks import NewTask, create_task

log = logging.getLogger(__name__)


def open_case(session: Session, vendor: Vendor) -> Case | None:
    return session.exec(
        select(Case)
        .where(Case.vendor_id == vendor.id, col(Case.state).in_(OPEN_STATES))
        .order_by(col(Case.id).desc())
    ).first()


def request_template(session: Session, vendor: Vendor, settings: Settings, now: datetime) -> str:
    assert vendor.id is not None
    verdict = verdict_on(session, vendor.id, now.astimezone(settings.zone).date())
    if verdict.status.value in ("expiring", "expired"):
        return "renewal_request"
    if verdict.status.value == "missing":
        return "certificate_request"
    return "deficiency_notice"


def queue_sms(
    session: Session,
    *,
    key: str,
    template: str,
    vendor: Vendor | None,
    phone: str,
    now: datetime,
    case: Case | None = None,
    settings: Settings,
) -> int | None:
    context = (
        template_context(session, vendor, now=now, case=case, settings=settings)
        if vendor is not None
        else _org_context(settings)
    )
    row, _ = create_delivery(
        session,
        NewDelivery(
            idempotency_key=key,
            channel="sms",
            recipient=phone,
            template=template,
            vendor_id=vendor.id if vendor else None,
            case_id=case.id if case else None,
            body_text=render.sms(template, context),
        ),
        now=now,
    )
    session.flush()
    return row.id if row.status == "queued" else None


def send_requirements(
    session: Session, vendor: Vendor, *, phone: str, key: str, now: datetime, settings: Settings
) -> list[int]:
    """Menu 2 of a reminder call: the requirements by text and by email."""
    case = open_case(session, vendor)
    ids = [
        queue_sms(
            session,
            key=f"{key}:sms",
            template="requirements",
            vendor=vendor,
            phone=phone,
            now=now,
            case=case,
            settings=settings,
        )
    ]
    if vendor.email:
        email, _ = queue_email(
            session,
            idempotency_key=f"{key}:email",
            template=request_template(session, vendor, settings, now),
            vendor=vendor,
            recipient_kind="vendor",
            now=now,
            case=case,
            settings=settings,
        )
        ids.append(email.id if email.status == "queued" else None)
    return [i for i in ids if i is not None]


def resend_to_agent(
    session: Session, vendor: Vendor, *, key: str, now: datetime, settings: Settings
) -> list[int]:
    case = open_case(session, vendor)
    row, _ = queue_email(
        session,
        idempotency_key=key,
        template=request_template(session, vendor, settings, now),
        vendor=vendor,
        recipient_kind="agent",
        cc_vendor=True,
        now=now,
        case=case,
        settings=settings,
    )
    return [row.id] if row.id is not None and row.status == "queued" else []


def person_task(
    session: Session,
    vendor: Vendor | None,
    *,
    phone: str | None,
    reason: str,
    now: datetime,
    recording_url: str | None = None,
    settings: Settings | None = None,
) -> CallTask:
    """A call-back task for the next time the call center is staffed (a bad
    COMMS_CALL_CENTER_HOURS raises HoursError: the caller's request goes to quarantine)."""
    return create_task(
        session,
        NewTask(
            vendor=vendor,
            case=open_case(session, vendor) if vendor else None,
            reason=reason,
            phone=phone,
            priority=1 if reason == "voicemail" else 2,
            script_template="callback",
            due_at=next_opening(now, settings or _settings()),
            recording_url=recording_url,
        ),
        now=now,
    )


def can_dial(settings: Settings, now: datetime) -> bool:
    """Can a caller be put through to the call center now? Not when COMMS_CALL_CENTER_HOURS
    cannot be read: the caller then gets a call-back task (stored first, re-runnable)."""
    try:
        return call_center_open(now, settings)
    except HoursError as exc:
        log.error("call center treated as closed: %s", exc)
        return False


def _settings() -> Settings:
    return get_settings()


def _org_context(settings: Settings) -> dict[str, object]:
    return {
        "vendor": None,
        "organization": {
            "name": settings.organization_name,
            "support_email": settings.support_email,
            "support_phone": settings.support_phone or None,
        },
    }
