"""The automated reminder call: its TwiML, the keypad menu and the call's callbacks.

Menu (data: `telephony.menus.REMINDER_MENU`): 1 renewal on its way (snooze), 2 requirements
by text and email, 3 a person (dial the call center when open, else a call-back task), 9
repeat. The choices that write are stored before they are applied (`act`, re-runnable). No
input: two re-prompts, then a polite goodbye. Async AMD: an answering machine gets the
voicemail after the beep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select
from twilio.twiml.voice_response import VoiceResponse

from comms.context import template_context
from comms.models import Case, Delivery, Vendor
from comms.settings import Settings
from telephony import menus, render
from telephony.events import route_id
from telephony.outcomes import delivery_outcome
from telephony.twiml import Voice, goodbye, menu, xml

REPROMPTS = 2
MACHINE = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})
CALL_FAILURES = {
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "call_failed",
    "canceled": "no_answer",
}
_CALL_RANK = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "answered": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "failed": 4,
    "canceled": 4,
}


def _base(delivery_id: int) -> str:
    return f"/twilio/voice/reminder/{delivery_id}"


@dataclass
class _Call:
    delivery: Delivery
    vendor: Vendor
    context: dict[str, Any]
    voice: Voice
    language: str


def _load(session: Session, delivery_id: int, now: datetime, settings: Settings) -> _Call | None:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.channel != "call" or delivery.vendor_id is None:
        return None
    vendor = session.get(Vendor, delivery.vendor_id)
    if vendor is None:
        return None
    case = session.get(Case, delivery.case_id) if delivery.case_id else None
    context = template_context(session, vendor, now=now, case=case, settings=settings)
    return _Call(
        delivery, vendor, context, Voice(render.twilio_language(vendor.language)), vendor.language
    )


def _unknown() -> str:
    response = VoiceResponse()
    response.hangup()
    return xml(response)


def _menu(call: _Call, response: VoiceResponse, *, attempt: int, intro: bool) -> str:
    base = _base(call.delivery.id or 0)
    texts = []
    if intro:  # the prompt the call's step names (a row made otherwise: the standard one)
        opening = call.delivery.template
        if not render.has_voice(opening):
            opening = "reminder_intro"
        texts.append(render.voice(opening, call.context, call.language))
    texts.append(render.voice("reminder_menu", call.context, call.language))
    menu(response, call.voice, action=f"{base}/menu?attempt={attempt}", texts=texts)
    response.redirect(f"{base}/noinput?attempt={attempt + 1}", method="POST")
    return xml(response)


def answer(session: Session, delivery_id: int, *, now: datetime, settings: Settings) -> str:
    """The TwiML the call starts with."""
    call = _load(session, delivery_id, now, settings)
    if call is None:
        return _unknown()
    return _menu(call, VoiceResponse(), attempt=0, intro=True)


def no_input(
    session: Session, delivery_id: int, attempt: int, *, now: datetime, settings: Settings
) -> str:
    call = _load(session, delivery_id, now, settings)
    if call is None:
        return _unknown()
    response = VoiceResponse()
    if attempt > REPROMPTS:
        return xml(
            goodbye(response, call.voice, render.voice("goodbye", call.context, call.language))
        )
    call.voice.say(response, render.voice("no_input", call.context, call.language))
    return _menu(call, response, attempt=attempt, intro=False)


def _target(session: Session, delivery_id: int | None) -> tuple[Delivery, Vendor] | None:
    delivery = session.get(Delivery, delivery_id) if delivery_id is not None else None
    if delivery is None or delivery.channel != "call" or delivery.vendor_id is None:
        return None
    vendor = session.get(Vendor, delivery.vendor_id)
    return (delivery, vendor) if vendor is not None else None


def act(
    session: Session, params: dict[str, str], now: datetime, *, settings: Settings
) -> list[int]:
    """Apply the choice (`telephony.menus.REMINDER_MENU`) of the reminder call in the route.
    Stored first; the outbox rows to enqueue."""
    target = _target(session, route_id(params, "delivery_id"))
    if target is None:
        return []
    delivery, vendor = target
    caller = menus.Caller(vendor, delivery.recipient, key=f"call:{delivery.id}", delivery=delivery)
    return menus.apply(session, menus.REMINDER_MENU, caller, params, now, settings=settings)


def choice_answer(
    session: Session,
    delivery_id: int,
    digits: str,
    *,
    now: datetime,
    settings: Settings,
    connect: bool,
) -> str:
    """The TwiML of the caller's choice (`act` has applied it; `connect`: put through)."""
    call = _load(session, delivery_id, now, settings)
    if call is None:
        return _unknown()

    def again(response: VoiceResponse, intro: bool) -> str:
        return _menu(call, response, attempt=0, intro=intro)

    return menus.answer(
        menus.REMINDER_MENU,
        digits,
        call.vendor,
        call.context,
        again=again,
        connect=connect,
        settings=settings,
    )


def voicemail_twiml(
    session: Session, delivery_id: int, *, now: datetime, settings: Settings
) -> str | None:
    call = _load(session, delivery_id, now, settings)
    if call is None:
        return None
    response = VoiceResponse()
    call.voice.say(response, render.voice("reminder_voicemail", call.context, call.language))
    response.hangup()
    return xml(response)


def machine_answered(
    session: Session, delivery_id: int, params: dict[str, str], now: datetime
) -> bool:
    """The async AMD result. True when a voicemail must be left (the call is then updated with
    the voicemail TwiML)."""
    delivery = session.get(Delivery, delivery_id)
    answered_by = params.get("AnsweredBy", "")
    if delivery is None:
        return False
    delivery.content = {**delivery.content, "answered_by": answered_by}
    session.add(delivery)
    if answered_by not in MACHINE:
        return False
    delivery_outcome(session, delivery, "voicemail_left", now, {"answered_by": answered_by})
    return True


def apply_call_status(session: Session, params: dict[str, str], now: datetime) -> None:
    """A call status callback: progress on the delivery row; busy, no-answer and failed go to
    the workflow (which retries on the next business day inside quiet hours, up to a limit)."""

    sid, status = params.get("CallSid", ""), params.get("CallStatus", "")
    delivery = session.exec(select(Delivery).where(Delivery.provider_message_id == sid)).first()
    if delivery is None:
        return
    previous = delivery.content.get("call_status", "queued")
    if _CALL_RANK.get(status, -1) <= _CALL_RANK.get(previous, 0):
        return
    delivery.content = {
        **delivery.content,
        "call_status": status,
        "duration": params.get("CallDuration"),
    }
    delivery.updated_at = now
    if status == "completed" and delivery.status == "sent":
        delivery.status = "delivered"
    session.add(delivery)
    if status in CALL_FAILURES:
        delivery.status, delivery.error_code = "failed", status
        delivery.error = f"call {status}"
        delivery_outcome(session, delivery, CALL_FAILURES[status], now, {"call_sid": sid})
