"""Every kind of stored Twilio callback and its handler.

The web app stores each callback (`telephony.events`) and processes it with the handler of
its kind; `comms webhooks-rerun` runs a quarantined one again with the same handler, so every
kind the web app stores can be re-run. A handler takes the stored parameters (Twilio's and the
route's, see `events.with_route`), writes in the session it is given and never commits."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlmodel import Session, select

from comms.context import template_context
from comms.models import Delivery
from comms.settings import Settings
from telephony import desk_call, ivr_menu, reminder_call, render
from telephony.calllog import call_log_row
from telephony.events import Handler, route_id, twilio_params
from telephony.ivr import org_context
from telephony.models import InboundMessage
from telephony.optout import handle_text
from telephony.phone import find_caller, normalize
from telephony.sms import apply_sms_status


class Kind(enum.StrEnum):
    SMS_STATUS = "sms_status"
    VOICE_STATUS = "voice_status"
    AMD = "amd"
    SMS_INBOUND = "sms_inbound"
    VOICEMAIL = "voicemail"
    IVR_MENU = "ivr_menu"
    REMINDER_MENU = "reminder_menu"
    VOICE_INBOUND = "voice_inbound"  # a call-log row the database refused (`telephony.calllog`)
    DESK_DIAL = "desk_dial"  # how the callee of a call from the desk answered its <Dial>


class Callbacks:
    """The handlers, bound to the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def handlers(self) -> dict[str, Handler[object]]:
        return {
            Kind.SMS_STATUS: self.sms_status,
            Kind.VOICE_STATUS: self.voice_status,
            Kind.AMD: self.amd,
            Kind.SMS_INBOUND: self.sms_inbound,
            Kind.VOICEMAIL: self.voicemail,
            Kind.IVR_MENU: self.ivr_menu,
            Kind.REMINDER_MENU: self.reminder_menu,
            Kind.VOICE_INBOUND: self.voice_inbound,
            Kind.DESK_DIAL: self.desk_dial,
        }

    def voice_status(self, session: Session, params: dict[str, str], now: datetime) -> None:
        """A call's status: a call from the desk (on its task), else a reminder call."""
        if not desk_call.record_status(session, params, now):
            reminder_call.apply_call_status(session, params, now)

    def desk_dial(self, session: Session, params: dict[str, str], now: datetime) -> None:
        desk_call.record_dial(session, route_id(params, "task_id"), params, now)

    def sms_status(self, session: Session, params: dict[str, str], now: datetime) -> None:
        apply_sms_status(
            session,
            params.get("MessageSid", ""),
            params.get("MessageStatus", ""),
            params.get("ErrorCode") or None,
            now=now,
        )

    def amd(self, session: Session, params: dict[str, str], now: datetime) -> bool:
        """True when an answering machine took the call (a voicemail is then left)."""
        delivery_id = route_id(params, "delivery_id")
        if delivery_id is None:  # stored without its route: the call's delivery by CallSid
            delivery_id = session.exec(
                select(Delivery.id).where(Delivery.provider_message_id == params.get("CallSid"))
            ).first()
        if delivery_id is None:
            return False
        return reminder_call.machine_answered(session, delivery_id, params, now)

    def sms_inbound(self, session: Session, params: dict[str, str], now: datetime) -> list[str]:
        """A text from a vendor or an agent: keywords (STOP, HELP, …) and the log row. The
        reply texts (lost on a re-run: the webhook has long been answered)."""
        settings = self.settings
        phone = normalize(params.get("From"), settings.default_region) or params.get("From", "")
        body = params.get("Body", "")
        result = handle_text(session, phone, body, now=now)
        vendor, agent = find_caller(session, phone, settings.default_region)
        session.add(
            InboundMessage(
                kind="sms",
                sid=params.get("MessageSid", ""),
                from_number=phone,
                to_number=params.get("To", ""),
                body=body,
                vendor_id=vendor.id if vendor else None,
                agent_id=agent.id if agent else None,
                action=result.action,
                payload=twilio_params(params),
                received_at=now,
            )
        )
        if not result.reply_template:
            return []
        context = (
            template_context(session, vendor, now=now, settings=settings)
            if vendor is not None
            else org_context(settings)
        )
        return [render.sms(result.reply_template, context)]

    def voicemail(self, session: Session, params: dict[str, str], now: datetime) -> None:
        ivr_menu.record_voicemail(session, params, now, settings=self.settings)

    def ivr_menu(self, session: Session, params: dict[str, str], now: datetime) -> list[int]:
        return ivr_menu.act(session, params, now, settings=self.settings)

    def reminder_menu(self, session: Session, params: dict[str, str], now: datetime) -> list[int]:
        return reminder_call.act(session, params, now, settings=self.settings)

    def voice_inbound(self, session: Session, params: dict[str, str], now: datetime) -> None:
        """Store a call-log row the database once refused; a vendor or an agent deleted
        since is left out (the number stays)."""
        session.add(InboundMessage(**call_log_row(session, params, now)))
