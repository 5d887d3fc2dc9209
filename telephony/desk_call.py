"""The desk's "call" button. With Twilio, the caller's own phone (COMMS_CALLER_PHONES, or a
number entered) rings first and is bridged to the callee with `<Dial>`; the call's status
comes back on the status callback. In the sandbox, the sandbox phone of the callee's number
rings (`/sandbox/phone`), and its answer is recorded on the task."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import and_, update
from sqlmodel import Session, col, select
from twilio.twiml.voice_response import VoiceResponse

from comms.settings import Settings
from telephony.gateway import callback_url, make_client
from telephony.models import CallTask
from telephony.phone import normalize
from telephony.task_states import HELD, TaskConflict, TaskError


def caller_phone(settings: Settings, name: str, entered: str | None) -> str | None:
    raw = (entered or "").strip() or settings.caller_phones.get(name, "")
    return normalize(raw, settings.default_region) if raw else None


def bridge_twiml(callee: str, settings: Settings) -> str:
    response = VoiceResponse()
    response.dial(callee, caller_id=settings.twilio_from_number or None)
    return str(response.to_xml(xml_declaration=True))


def place_call(
    session: Session,
    task: CallTask,
    *,
    by: str,
    now: datetime,
    settings: Settings,
    own_phone: str | None = None,
) -> dict[str, Any]:
    """Place the call for the task's holder; the call's record is kept on the task."""
    if not task.phone:
        raise TaskError(f"call task {task.id} has no number to call")
    if settings.twilio_configured:
        phone = caller_phone(settings, by, own_phone)
        if phone is None:
            raise TaskError(
                f"no phone for {by}: set COMMS_CALLER_PHONES or enter the number to ring first"
            )
        created = make_client(settings).calls.create(
            to=phone,
            from_=settings.twilio_from_number,
            twiml=bridge_twiml(task.phone, settings),
            status_callback=callback_url(settings, "/twilio/voice/status"),
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            status_callback_method="POST",
        )
        call = {"mode": "twilio", "sid": str(created.sid), "ring_first": phone}
    else:
        call = {"mode": "sandbox", "sid": "CA" + secrets.token_hex(16), "status": "ringing"}
    call.update({"callee": task.phone, "by": by, "at": now.isoformat()})
    data = {**task.outcome_data, "call": call}
    result = session.execute(
        update(CallTask)
        .where(
            and_(
                col(CallTask.id) == task.id,
                col(CallTask.claimed_by) == by,
                col(CallTask.status).in_(HELD),
            )
        )
        .values(outcome_data=data, updated_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise TaskConflict(f"call task {task.id} is no longer held by {by}")
    session.commit()
    return call


def sandbox_ringing(session: Session, number: str) -> list[CallTask]:
    """Desk calls ringing the sandbox phone of `number`."""
    rows = session.exec(
        select(CallTask).where(col(CallTask.status).in_(HELD), CallTask.phone == number)
    ).all()
    return [
        t
        for t in rows
        if (t.outcome_data.get("call") or {}).get("mode") == "sandbox"
        and (t.outcome_data.get("call") or {}).get("status") == "ringing"
    ]


def sandbox_answer(
    session: Session, task_id: int, *, answered_by: str, now: datetime
) -> CallTask | None:
    """The sandbox phone answered (a person or a machine): recorded on the task's call."""
    task = session.get(CallTask, task_id)
    if task is None:
        return None
    call = dict(task.outcome_data.get("call") or {})
    if call.get("mode") != "sandbox" or call.get("status") != "ringing":
        return None
    call.update({"status": "answered", "answered_by": answered_by, "answered_at": now.isoformat()})
    task.outcome_data = {**task.outcome_data, "call": call}
    task.updated_at = now
    session.add(task)
    session.commit()
    return task
