"""The sandbox phone: be any number, call the IVR line, answer the sandbox's outgoing calls,
read the texts a number received and text back — with no Twilio account.

Calls are played by the TwiML interpreter (`telephony.interpreter`) against the app's own
webhooks, signed as Twilio signs them (`telephony.signatures.auth_token`: the sandbox's key
without Twilio, the real auth token with it). `comms phone` and the `/sandbox/phone` page use it.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from comms.errors import PermanentError
from comms.models import Delivery
from comms.settings import Settings
from telephony.interpreter import INBOUND_PATH, STATUS_PATH, Interpreter, Poster, Transcript
from telephony.models import InboundMessage
from telephony.phone import normalize
from telephony.signatures import auth_token

SANDBOX_LINE = "+15005550006"  # the IVR line's number when no Twilio number is configured
MACHINE = "machine_end_beep"


class PhoneError(PermanentError):
    """A number that does not dial."""

    code = "sandbox_phone_number"


def line_number(settings: Settings) -> str:
    number = settings.ivr_number or settings.twilio_from_number.removeprefix("whatsapp:")
    return number or SANDBOX_LINE


def dialable(number: str, settings: Settings) -> str:
    e164 = normalize(number, settings.default_region)
    if e164 is None:
        raise PhoneError(f"not a phone number: {number!r}")
    return e164


def interpreter(settings: Settings, post: Poster, **kw: Any) -> Interpreter:
    return Interpreter(post, public_url=settings.public_url, auth_token=auth_token(settings), **kw)


def call_ivr(
    settings: Settings,
    post: Poster,
    from_number: str,
    *,
    presses: list[str],
    machine: bool = False,
    **kw: Any,
) -> Transcript:
    """A call from `from_number` to the IVR line."""
    return interpreter(settings, post, **kw).call(
        from_number=dialable(from_number, settings),
        to_number=line_number(settings),
        url=INBOUND_PATH,
        presses=presses,
        answered_by=MACHINE if machine else None,
    )


def ringing(session: Session, number: str, *, settings: Settings) -> Delivery | None:
    """The sandbox's newest outgoing call to `number` not answered yet."""
    e164 = dialable(number, settings)
    rows = session.exec(
        select(Delivery)
        .where(Delivery.channel == "call", Delivery.recipient == e164)
        .where(col(Delivery.status) == "sent")
        .order_by(col(Delivery.id).desc())
    ).all()
    for row in rows:
        if "call_status" not in row.content:
            return row
    return None


def answer_call(
    settings: Settings,
    post: Poster,
    delivery: Delivery,
    *,
    presses: list[str],
    machine: bool = False,
    **kw: Any,
) -> Transcript:
    """Answer the reminder call `delivery` (as a person, or an answering machine): its TwiML,
    the asynchronous AMD callback and the status callbacks, as Twilio sends them."""
    base = f"/twilio/voice/reminder/{delivery.id}"
    return interpreter(settings, post, **kw).call(
        from_number=line_number(settings),
        to_number=delivery.recipient,
        url=base,
        presses=presses,
        answered_by=MACHINE if machine else "human",
        direction="outbound-api",
        call_sid=delivery.provider_message_id or None,
        status_callback=STATUS_PATH,
        status_events=("initiated", "ringing", "answered", "completed"),
        amd_callback=f"{base}/amd",
    )


@dataclass(frozen=True)
class Texted:
    sid: str
    replies: list[str]
    status: int


def send_text(settings: Settings, post: Poster, from_number: str, body: str) -> Texted:
    """A text from `from_number` to the line (STOP, HELP, START, …) and the replies."""
    sid = "SM" + secrets.token_hex(16)
    params = {
        "AccountSid": interpreter(settings, post).account_sid,
        "MessageSid": sid,
        "SmsSid": sid,
        "From": dialable(from_number, settings),
        "To": line_number(settings),
        "Body": body,
        "NumMedia": "0",
    }
    path = "/twilio/sms/inbound"
    reply = post(path, params, interpreter(settings, post).signed_headers(path, params))
    replies: list[str] = []
    if reply.status == 200:
        replies = [m.text or "" for m in ET.fromstring(reply.body).iter("Message")]
    return Texted(sid, replies, reply.status)


@dataclass(frozen=True)
class InboxItem:
    at: datetime
    kind: str  # text | call | text sent
    text: str
    status: str
    delivery_id: int | None = None


def inbox(session: Session, number: str, *, settings: Settings) -> list[InboxItem]:
    """What `number` received from the sandbox (texts and calls), and the texts it sent,
    newest first."""
    e164 = dialable(number, settings)
    items: list[InboxItem] = []
    for row in session.exec(
        select(Delivery).where(
            Delivery.recipient == e164, col(Delivery.channel).in_(("sms", "call"))
        )
    ).all():
        kind = "text" if row.channel == "sms" else "call"
        text = row.body_text or row.template
        status = row.content.get("call_status", row.status) if kind == "call" else row.status
        items.append(InboxItem(row.sent_at or row.created_at, kind, text, str(status), row.id))
    for msg in session.exec(
        select(InboundMessage).where(
            InboundMessage.from_number == e164, InboundMessage.kind == "sms"
        )
    ).all():
        items.append(InboxItem(msg.received_at, "text sent", msg.body or "", msg.action))
    items.sort(key=lambda i: i.at, reverse=True)
    return items
