"""The inbound line vendors call: who is calling, their status, and what they can do.

The caller ID is matched to a vendor (or an agent); otherwise the caller keys in the vendor
ID. The status is spoken (compliant until DATE, what is missing, expired since DATE) and a menu
offers: 1 resend the request to my agent, 2 text me how to send the certificate, 3 talk to a
person, 4 leave a voicemail, 9 hear it again (the choices: `telephony.ivr_menu`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from twilio.twiml.voice_response import VoiceResponse

from comms.context import template_context
from comms.models import Vendor
from comms.settings import Settings
from comms.stored_verdicts import current
from telephony import render
from telephony.calllog import DirectLog
from telephony.phone import find_caller, normalize
from telephony.status_cache import CallerLookup, StatusCache, org_today
from telephony.twiml import Voice, goodbye, menu, xml

CODE_TRIES = 3
BASE = "/twilio/voice/ivr"


def org_context(settings: Settings) -> dict[str, Any]:
    return {
        "organization": {
            "name": settings.organization_name,
            "support_email": settings.support_email,
            "support_phone": settings.support_phone or None,
        },
        "vendor": None,
    }


def status_menu(
    session: Session,
    vendor: Vendor,
    response: VoiceResponse,
    *,
    now: datetime,
    settings: Settings,
    welcome: bool,
) -> str:
    verdict = current(session, vendor, day=now.astimezone(settings.zone).date(), now=now)
    context = template_context(session, vendor, now=now, settings=settings, verdict=verdict)
    voice = Voice(render.twilio_language(vendor.language))
    texts = []
    if welcome:
        texts.append(render.voice("ivr_welcome", context, vendor.language))
    texts.append(render.voice("ivr_status", context, vendor.language))
    texts.append(render.voice("ivr_menu", context, vendor.language))
    menu(response, voice, action=f"{BASE}/menu?vendor={vendor.id}", texts=texts)
    voice.say(response, render.voice("goodbye", context, vendor.language))
    response.hangup()
    return xml(response)


def ask_code(response: VoiceResponse, settings: Settings, attempt: int) -> str:
    voice = Voice()
    menu(
        response,
        voice,
        action=f"{BASE}/code?attempt={attempt}",
        num_digits=None,
        finish_on_key="#",
        timeout=10,
        texts=[render.voice("ivr_ask_code", org_context(settings))],
    )
    return xml(goodbye(response, voice, render.voice("goodbye", org_context(settings))))


class CallLogSink(Protocol):
    def add(self, row: dict[str, Any]) -> None: ...


class InboundLine:
    """POST /twilio/voice/inbound: who is calling, and their status and menu.

    `cached` is the hot path, cheap enough for the event loop: the number normalized (a
    memo), one query for the caller and the version key of their status (`CallerLookup`, on
    `read_engine`), the TwiML from `cache`, and the call's log row handed to `calllog`. It
    answers None when it cannot answer alone; `answer` (ORM, template rendering; run it in a
    thread) then builds the status TwiML and fills the cache, or asks for the vendor ID."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        read_engine: Engine | None = None,
        cache: StatusCache | None = None,
        calllog: CallLogSink | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.reader = read_engine or engine
        self.region = settings.default_region
        self.zone = settings.zone
        self.cache = cache
        self.calllog: CallLogSink = calllog if calllog is not None else DirectLog(engine)
        self.lookup = CallerLookup(self.reader)

    def cached(self, params: dict[str, str], now: datetime) -> str | None:
        if self.cache is None:
            return None
        e164 = normalize(params.get("From"), self.region)
        if e164 is None:
            return None
        row = self.lookup(e164, org_today(now, self.zone))
        twiml = self.cache.get(row.vendor_id, row.key) if row is not None else None
        if twiml is not None and row is not None:
            self._log(params, now, e164, row.vendor_id, None)
        return twiml

    def answer(self, params: dict[str, str], now: datetime) -> str:
        caller = params.get("From", "")
        e164 = normalize(caller, self.region)
        row = self.lookup(e164, org_today(now, self.zone)) if e164 else None
        with Session(self.reader, expire_on_commit=False) as session:
            if row is not None:
                vendor = session.get(Vendor, row.vendor_id)
                assert vendor is not None
                twiml = status_menu(
                    session, vendor, VoiceResponse(), now=now, settings=self.settings, welcome=True
                )
                if self.cache is not None:
                    self.cache.put(row.vendor_id, row.key, twiml)
                agent_id = None
            else:
                _vendor, agent = find_caller(session, caller, self.region)
                agent_id = agent.id if agent is not None else None
                twiml = ask_code(VoiceResponse(), self.settings, 1)
            session.commit()  # end the read transaction before the log takes the write lock
        self._log(params, now, e164 or caller, row.vendor_id if row else None, agent_id)
        return twiml

    def _log(
        self,
        params: dict[str, str],
        now: datetime,
        number: str,
        vendor_id: int | None,
        agent_id: int | None,
    ) -> None:
        self.calllog.add(
            {
                "kind": "call",
                "sid": params.get("CallSid", ""),
                "from_number": number,
                "to_number": params.get("To", ""),
                "body": None,
                "vendor_id": vendor_id,
                "agent_id": agent_id,
                "action": "matched" if vendor_id or agent_id else "ask_code",
                "payload": params,
                "received_at": now,
            }
        )


def code_entered(
    session: Session, params: dict[str, str], attempt: int, *, now: datetime, settings: Settings
) -> str:
    digits = params.get("Digits", "").strip()
    vendor = (
        session.exec(
            select(Vendor).where(Vendor.vendor_code == digits, Vendor.active == True)  # noqa: E712
        ).first()
        if digits
        else None
    )
    if vendor is not None:
        return status_menu(
            session, vendor, VoiceResponse(), now=now, settings=settings, welcome=True
        )
    response = VoiceResponse()
    Voice().say(response, render.voice("ivr_unknown_code", org_context(settings)))
    if attempt >= CODE_TRIES:
        return xml(goodbye(response, Voice(), render.voice("goodbye", org_context(settings))))
    return ask_code(response, settings, attempt + 1)
