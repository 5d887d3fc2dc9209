"""The desk's "call" button. With Twilio, the caller's own phone (COMMS_CALLER_PHONES, or a
number entered) rings first and is bridged to the callee with `<Dial>`; the call's status
callbacks (`/twilio/voice/status`: initiated, ringing, in-progress, completed, busy,
no-answer, failed, canceled) and how the callee answered the `<Dial>` (its action,
`/twilio/voice/desk/{task}/dial`: DialCallStatus) are recorded on the task's call, which the
task screen shows. In the sandbox, the sandbox phone of the callee's number rings
(`/sandbox/phone`), and its answer is recorded on the task."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
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


# a status only moves forward (callbacks may arrive out of order); the last ones are final
CALL_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
FINAL = ("completed", "busy", "no-answer", "failed", "canceled")
RECENT = timedelta(hours=6)  # a call's last callbacks may come after its wrap-up was saved


def _rank(status: str | None) -> int:
    return 4 if status in FINAL else CALL_RANK.get(status or "", -1)


def dial_path(task_id: int) -> str:
    return f"/twilio/voice/desk/{task_id}/dial"


def bridge_twiml(task_id: int, callee: str, settings: Settings) -> str:
    """What the caller's own phone hears once answered: the callee, dialed; how the callee
    answered is posted to the `<Dial>`'s action."""
    response = VoiceResponse()
    response.dial(
        callee,
        caller_id=settings.twilio_from_number or None,
        action=callback_url(settings, dial_path(task_id)),
        method="POST",
    )
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
            twiml=bridge_twiml(task.id or 0, task.phone, settings),
            status_callback=callback_url(settings, "/twilio/voice/status"),
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            status_callback_method="POST",
        )
        call = {
            "mode": "twilio",
            "sid": str(created.sid),
            "ring_first": phone,
            "status": str(created.status or "queued"),
        }
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


def _save_call(session: Session, task: CallTask, call: dict[str, Any], now: datetime) -> None:
    session.execute(
        update(CallTask)
        .where(col(CallTask.id) == task.id)
        .values(outcome_data={**task.outcome_data, "call": call}, updated_at=now)
    )


def _calls_with(session: Session, sid: str, now: datetime) -> list[CallTask]:
    """The task whose desk call has this SID: among the held ones and those done lately."""
    rows = session.exec(
        select(CallTask).where(
            or_(
                col(CallTask.status).in_(HELD),
                and_(col(CallTask.status) == "done", col(CallTask.completed_at) >= now - RECENT),
            )
        )
    ).all()
    return [t for t in rows if sid and (t.outcome_data.get("call") or {}).get("sid") == sid]


def record_status(session: Session, params: dict[str, str], now: datetime) -> bool:
    """A status callback of a desk call (its caller's leg): recorded on the task's call when
    it moves the status forward. False: no desk call has this SID (not ours to handle)."""
    sid, status = params.get("CallSid", ""), params.get("CallStatus", "")
    tasks = _calls_with(session, sid, now)
    for task in tasks:
        call = dict(task.outcome_data.get("call") or {})
        if _rank(status) > _rank(call.get("status")):
            call.update({"status": status, "status_at": now.isoformat()})
            if params.get("CallDuration"):
                call["duration"] = params["CallDuration"]
            _save_call(session, task, call, now)
    return bool(tasks)


def record_dial(
    session: Session, task_id: int | None, params: dict[str, str], now: datetime
) -> None:
    """The `<Dial>` to the callee ended: how they answered (completed, busy, no-answer,
    failed, canceled) is recorded on the task's call."""
    task = session.get(CallTask, task_id) if task_id is not None else None
    if task is None:
        return
    call = dict(task.outcome_data.get("call") or {})
    if call.get("sid") != params.get("CallSid"):
        return  # not this task's call
    call.update(
        {
            "callee_status": params.get("DialCallStatus", ""),
            "callee_duration": params.get("DialCallDuration"),
        }
    )
    _save_call(session, task, call, now)
