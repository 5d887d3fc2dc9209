"""Without Twilio credentials: SMS and calls are recorded in the database (the delivery row
keeps the text and a sandbox provider id, SM… or CA…) and reported sent, after the same opt-out and
quiet-hours checks a real send makes."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlmodel import Session

from comms.channels import SendOutcome
from comms.db import get_engine
from comms.models import Delivery
from comms.settings import Settings
from telephony import preflight


class _Sandbox:
    channel = ""
    prefix = "SB"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, delivery: Delivery, *, now: datetime) -> SendOutcome:
        return await asyncio.to_thread(self._send, delivery, now)

    def _send(self, delivery: Delivery, now: datetime) -> SendOutcome:
        engine = get_engine(self.settings.effective_database_url)
        with Session(engine, expire_on_commit=False) as session:
            blocked = self._check(session, delivery, now)
        if blocked is not None:
            return blocked
        return SendOutcome(status="sent", provider_message_id=f"{self.prefix}{delivery.id:032d}")

    def _check(self, session: Session, delivery: Delivery, now: datetime) -> SendOutcome | None:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class SandboxSmsSender(_Sandbox):
    channel = "sms"
    prefix = "SM"

    def _check(self, session: Session, delivery: Delivery, now: datetime) -> SendOutcome | None:
        return preflight.check_sms(session, delivery)


class SandboxCallSender(_Sandbox):
    channel = "call"
    prefix = "CA"

    def _check(self, session: Session, delivery: Delivery, now: datetime) -> SendOutcome | None:
        return preflight.check_call(session, delivery, self.settings, now=now)
