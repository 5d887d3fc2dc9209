"""The IVR line's menu choices and its voicemail.

A choice that writes (1 resend to the agent, 2 text how to send, 3 a call-back task when the
caller cannot be put through) and a recorded voicemail are stored raw before they are
applied (`telephony.events`): `act` and `record_voicemail` are their handlers, run by the
webhook and again by `comms webhooks-rerun` after a failure. `answer` and `voicemail_answer`
build the TwiML, reading only."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select
from twilio.twiml.voice_response import VoiceResponse

from comms.context import template_context
from comms.models import Vendor
from comms.settings import Settings
from telephony import actions, render
from telephony.events import route_id, twilio_params
from telephony.ivr import BASE, ask_code, org_context, status_menu
from telephony.models import InboundMessage
from telephony.phone import normalize
from telephony.twiml import Voice, goodbye, xml

ACTIONS = frozenset({"1", "2", "3"})  # the choices that write


def act(
    session: Session, params: dict[str, str], now: datetime, *, settings: Settings
) -> list[int]:
    """Apply choice 1, 2 or 3 of the vendor in the route (choice 3: the caller was not put
    through, so a call-back task). The outbox rows to enqueue."""
    vendor_id = route_id(params, "vendor")
    vendor = session.get(Vendor, vendor_id) if vendor_id is not None else None
    if vendor is None:  # the caller is asked for the vendor ID again
        return []
    digits = params.get("Digits", "")
    sid = params.get("CallSid", "")
    phone = normalize(params.get("From"), settings.default_region) or vendor.phone
    if digits == "1" and vendor.agent_id is not None:
        return actions.resend_to_agent(
            session, vendor, key=f"ivr:{sid}:resend", now=now, settings=settings
        )
    if digits == "2":
        if not phone:
            return []
        one = actions.queue_sms(
            session,
            key=f"ivr:{sid}:howto",
            template="how_to_send",
            vendor=vendor,
            phone=phone,
            now=now,
            case=actions.open_case(session, vendor),
            settings=settings,
        )
        return [one] if one is not None else []
    if digits in ("1", "3"):  # no agent to resend to, or the caller was not put through
        reason = "ivr_no_agent" if digits == "1" else "ivr_person"
        actions.person_task(session, vendor, phone=phone, reason=reason, now=now, settings=settings)
    return []


def answer(
    session: Session,
    vendor_id: int,
    params: dict[str, str],
    *,
    now: datetime,
    settings: Settings,
    connect: bool,
) -> str:
    """The TwiML of a choice (`connect`: choice 3 dials the call center)."""
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        return ask_code(VoiceResponse(), settings, 1)
    context = template_context(session, vendor, now=now, settings=settings)
    voice = Voice(render.twilio_language(vendor.language))

    def say(name: str) -> str:
        return render.voice(name, context, vendor.language)

    digits = params.get("Digits", "")
    response = VoiceResponse()
    if digits == "1":
        done = say("ivr_no_agent") if vendor.agent_id is None else say("ivr_resent")
        return xml(goodbye(response, voice, done, say("goodbye")))
    if digits == "2":
        return xml(goodbye(response, voice, say("ivr_texted"), say("goodbye")))
    if digits == "3":
        if connect:
            voice.say(response, say("connecting"))
            response.dial(settings.call_center_number)
            return xml(response)
        return xml(goodbye(response, voice, say("callback_task"), say("goodbye")))
    if digits == "4":
        voice.say(response, say("ivr_record"))
        response.record(
            action=f"{BASE}/recorded?vendor={vendor.id}",
            method="POST",
            max_length=120,
            play_beep=True,
            finish_on_key="#",
            timeout=5,
        )
        return xml(goodbye(response, voice, say("goodbye")))
    if digits != "9":
        voice.say(response, say("invalid"))
    return status_menu(session, vendor, response, now=now, settings=settings, welcome=False)


def voicemail_sid(params: dict[str, str]) -> str:
    return params.get("RecordingSid") or params.get("CallSid", "")


def record_voicemail(
    session: Session, params: dict[str, str], now: datetime, *, settings: Settings
) -> None:
    """The voicemail: a call-back task linked to the recording, and its log row. A vendor
    deleted meanwhile leaves a task without a vendor (the recording and the number kept)."""
    rec_sid = voicemail_sid(params)
    seen = session.exec(
        select(InboundMessage).where(
            InboundMessage.kind == "voicemail", InboundMessage.sid == rec_sid
        )
    ).first()
    if seen is not None:  # a repeated callback does not make a second task
        return
    vendor_id = route_id(params, "vendor")
    vendor = session.get(Vendor, vendor_id) if vendor_id is not None else None
    caller = normalize(params.get("From"), settings.default_region)
    task = actions.person_task(
        session,
        vendor,
        phone=caller,
        reason="voicemail",
        now=now,
        recording_url=params.get("RecordingUrl") or None,
        settings=settings,
    )
    session.add(
        InboundMessage(
            kind="voicemail",
            sid=rec_sid,
            from_number=caller or "",
            to_number=params.get("To", ""),
            vendor_id=vendor.id if vendor is not None else None,
            action=f"call_task:{task.id}",
            payload=twilio_params(params),
            received_at=now,
        )
    )


def voicemail_answer(session: Session, vendor_id: int | None, *, settings: Settings) -> str:
    vendor = session.get(Vendor, vendor_id) if vendor_id else None
    lang = vendor.language if vendor is not None else None
    context = org_context(settings)
    return xml(
        goodbye(
            VoiceResponse(),
            Voice(render.twilio_language(lang)),
            render.voice("ivr_recorded", context, lang),
            render.voice("goodbye", context, lang),
        )
    )
