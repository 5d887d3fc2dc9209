"""Channel senders for sms, call and call_task: Twilio when configured, else the sandbox.

Named by the channel specifications in `telephony.channels`."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session
from twilio.base.exceptions import TwilioException, TwilioRestException

from comms.channels import ChannelSender, SendOutcome
from comms.db import get_engine
from comms.models import Delivery
from comms.redact import redact_phone
from comms.settings import Settings
from telephony import preflight
from telephony.gateway import callback_url, make_client, sender_params
from telephony.sandbox import SandboxCallSender, SandboxSmsSender
from telephony.sms import PERMANENT_CODES
from telephony.tasks import task_from_delivery

log = logging.getLogger(__name__)


def _rest_outcome(exc: TwilioRestException) -> SendOutcome:
    code = str(exc.code) if exc.code is not None else None
    transient = exc.status == 429 or exc.status >= 500
    return SendOutcome(
        status="retry" if transient and code not in PERMANENT_CODES else "failed",
        error=f"twilio {exc.status}: {exc.msg}",
        error_code=code,
    )


class _TwilioSender:
    channel = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = make_client(settings)

    def _session(self) -> Session:
        return Session(get_engine(self.settings.effective_database_url), expire_on_commit=False)

    async def send(self, delivery: Delivery, *, now: datetime) -> SendOutcome:
        return await asyncio.to_thread(self._send, delivery, now)

    def _send(self, delivery: Delivery, now: datetime) -> SendOutcome:
        with self._session() as session:
            blocked = self._check(session, delivery, now)
        if blocked is not None:
            return blocked
        try:
            sid = self._create(delivery)
        except TwilioRestException as exc:
            log.info(
                "twilio refused %s to %s: %s",
                self.channel,
                redact_phone(delivery.recipient),
                exc.msg,
            )
            return _rest_outcome(exc)
        except (TwilioException, OSError) as exc:
            return SendOutcome(status="retry", error=f"twilio unreachable: {exc}")
        return SendOutcome(status="sent", provider_message_id=sid)

    def _check(self, session: Session, delivery: Delivery, now: datetime) -> SendOutcome | None:
        raise NotImplementedError

    def _create(self, delivery: Delivery) -> str:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class TwilioSmsSender(_TwilioSender):
    channel = "sms"

    def _check(self, session: Session, delivery: Delivery, now: datetime) -> SendOutcome | None:
        return preflight.check_sms(session, delivery)

    def _create(self, delivery: Delivery) -> str:
        message = self.client.messages.create(
            to=delivery.recipient,
            body=delivery.body_text or "",
            status_callback=callback_url(self.settings, "/twilio/sms/status"),
            **sender_params(self.settings),
        )
        return str(message.sid)


class TwilioCallSender(_TwilioSender):
    channel = "call"

    def _check(self, session: Session, delivery: Delivery, now: datetime) -> SendOutcome | None:
        return preflight.check_call(session, delivery, self.settings, now=now)

    def _create(self, delivery: Delivery) -> str:
        params: dict[str, Any] = call_params(self.settings, delivery)
        call = self.client.calls.create(**params)
        return str(call.sid)


def call_params(settings: Settings, delivery: Delivery) -> dict[str, Any]:
    """The Calls.json parameters of a reminder call: TwiML from our webhook, status callbacks
    and asynchronous answering-machine detection."""
    base = f"/twilio/voice/reminder/{delivery.id}"
    return {
        "to": delivery.recipient,
        "from_": settings.twilio_from_number,
        "url": callback_url(settings, base),
        "method": "POST",
        "status_callback": callback_url(settings, "/twilio/voice/status"),
        "status_callback_event": ["initiated", "ringing", "answered", "completed"],
        "status_callback_method": "POST",
        "machine_detection": "DetectMessageEnd",
        "async_amd": "true",
        "async_amd_status_callback": callback_url(settings, f"{base}/amd"),
        "async_amd_status_callback_method": "POST",
    }


class CallTaskSender:
    """A call_task delivery becomes a CallTask row in the staff queue."""

    channel = "call_task"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, delivery: Delivery, *, now: datetime) -> SendOutcome:
        return await asyncio.to_thread(self._send, delivery, now)

    def _send(self, delivery: Delivery, now: datetime) -> SendOutcome:
        engine = get_engine(self.settings.effective_database_url)
        with Session(engine, expire_on_commit=False) as session:
            task = task_from_delivery(session, delivery, now=now)
            session.commit()
            return SendOutcome(status="sent", provider_message_id=f"TASK-{task.id}")

    async def aclose(self) -> None:
        return None


def sms_sender(settings: Settings) -> ChannelSender:
    return TwilioSmsSender(settings) if settings.twilio_configured else SandboxSmsSender(settings)


def call_sender(settings: Settings) -> ChannelSender:
    if settings.twilio_configured:
        return TwilioCallSender(settings)
    return SandboxCallSender(settings)
