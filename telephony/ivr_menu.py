"""The IVR line's menu choices and its voicemail.

The menu itself is data (`telephony.menus.IVR_MENU`). A choice that writes and a recorded
voicemail are stored raw before they are applied (`telephony.events`): `act` and
`record_voicemail` are their handlers, run by the webhook and again by
`comms webhooks-rerun` after a failure. `answer` and `voicemail_answer` build the TwiML,
reading only."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select
from twilio.twiml.voice_response import VoiceResponse

from comms.context import template_context
from comms.models import Vendor
from comms.settings import Settings
from telephony import actions, menus, render
from telephony.events import route_id, twilio_params
from telephony.ivr import BASE, ask_code, org_context, status_menu
from telephony.models import InboundMessage
from telephony.phone import normalize
from telephony.twiml import Voice, goodbye, xml


def act(
    session: Session, params: dict[str, str], now: datetime, *, settings: Settings
) -> list[int]:
    """Apply the choice (`telephony.menus.IVR_MENU`) of the vendor in the route. The outbox
    rows to enqueue."""
    vendor_id = route_id(params, "vendor")
    vendor = session.get(Vendor, vendor_id) if vendor_id is not None else None
    if vendor is None:  # the caller is asked for the vendor ID again
        return []
    phone = normalize(params.get("From"), settings.default_region) or vendor.phone
    caller = menus.Caller(vendor, phone, key=f"ivr:{params.get('CallSid', '')}")
    return menus.apply(session, menus.IVR_MENU, caller, params, now, settings=settings)


def answer(
    session: Session,
    vendor_id: int,
    params: dict[str, str],
    *,
    now: datetime,
    settings: Settings,
    connect: bool,
) -> str:
    """The TwiML of a choice (`connect`: the caller is put through to the call center)."""
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        return ask_code(VoiceResponse(), settings, 1)
    context = template_context(session, vendor, now=now, settings=settings)

    def again(response: VoiceResponse, _intro: bool) -> str:
        return status_menu(session, vendor, response, now=now, settings=settings, welcome=False)

    def record(response: VoiceResponse) -> None:
        response.record(
            action=f"{BASE}/recorded?vendor={vendor.id}",
            method="POST",
            max_length=120,
            play_beep=True,
            finish_on_key="#",
            timeout=5,
        )

    digits = params.get("Digits", "")
    return menus.answer(
        menus.IVR_MENU,
        digits,
        vendor,
        context,
        again=again,
        connect=connect,
        settings=settings,
        record=record,
    )


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
