"""The keypad menus as data: digit → what is said, what is done, what is recorded.

A `Choice` names its prompt (a voice template, said before goodbye), its action (one of
ACTIONS, applied once: stored first by the webhook, re-runnable by `comms webhooks-rerun`),
what that action records (an outcome on the case, or a call-back task's reason) and whether it
puts the caller through to the call center when it is open. `answer` builds the TwiML of any
menu's choice; `apply` runs its action. Add a choice by adding a line to a menu (and its words
to the menu's prompt in `templates/voice/<lang>/`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session
from twilio.twiml.voice_response import VoiceResponse

from comms.models import Delivery, Vendor
from comms.settings import Settings
from telephony import actions, render
from telephony.outcomes import delivery_outcome
from telephony.twiml import Voice, goodbye, xml

Then = Literal["goodbye", "record", "repeat"]


@dataclass(frozen=True)
class Choice:
    prompt: str | None = None  # the voice template said (then goodbye, or the recording)
    action: str | None = None  # a name in ACTIONS; None: nothing to store or apply
    records: str | None = None  # the outcome, or the call-back task's reason, it records
    connect: bool = False  # put through to the call center when it is open
    then: Then = "goodbye"  # or record a voicemail, or say the menu again
    no_agent_prompt: str | None = None  # said instead when the vendor has no agent


@dataclass(frozen=True)
class Menu:
    kind: str  # the webhook-event kind its choices are stored under
    choices: Mapping[str, Choice] = field(default_factory=dict)
    dial_caller_id: bool = False  # dial the call center from our number (an outbound call)

    def choice(self, digits: str) -> Choice | None:
        return self.choices.get(digits)


IVR_MENU = Menu(
    "ivr_menu",
    {
        "1": Choice(
            "ivr_resent", "resend_to_agent", records="ivr_no_agent", no_agent_prompt="ivr_no_agent"
        ),
        "2": Choice("ivr_texted", "text_how_to_send"),
        "3": Choice("callback_task", "call_back", records="ivr_person", connect=True),
        "4": Choice("ivr_record", then="record"),
        "9": Choice(then="repeat"),
    },
)

REMINDER_MENU = Menu(
    "reminder_menu",
    {
        "1": Choice("renewal_ack", "record_outcome", records="renewal_on_way"),
        "2": Choice("requirements_sent", "send_requirements"),
        "3": Choice("callback_task", "call_back", records="reminder_call_person", connect=True),
        "9": Choice(then="repeat"),
    },
    dial_caller_id=True,
)

MENUS = {menu.kind: menu for menu in (IVR_MENU, REMINDER_MENU)}


# --- the actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Whom a choice acts for: the vendor, the number to text or call back, the prefix of the
    idempotency keys of what it queues, the reminder call's delivery (None on the IVR line)
    and the call (set by `apply`)."""

    vendor: Vendor
    phone: str | None
    key: str
    delivery: Delivery | None = None
    call_sid: str | None = None


Action = Callable[[Session, Caller, Choice, datetime, Settings], list[int]]


def resend_to_agent(
    session: Session, caller: Caller, choice: Choice, now: datetime, settings: Settings
) -> list[int]:
    """The request again to the vendor's agent; with no agent, a call-back task."""
    if caller.vendor.agent_id is not None:
        return actions.resend_to_agent(
            session, caller.vendor, key=f"{caller.key}:resend", now=now, settings=settings
        )
    return call_back(session, caller, choice, now, settings)


def text_how_to_send(
    session: Session, caller: Caller, choice: Choice, now: datetime, settings: Settings
) -> list[int]:
    if not caller.phone:
        return []
    one = actions.queue_sms(
        session,
        key=f"{caller.key}:howto",
        template="how_to_send",
        vendor=caller.vendor,
        phone=caller.phone,
        now=now,
        case=actions.open_case(session, caller.vendor),
        settings=settings,
    )
    return [one] if one is not None else []


def call_back(
    session: Session, caller: Caller, choice: Choice, now: datetime, settings: Settings
) -> list[int]:
    """A call-back task (the caller was not put through), its reason what the choice records."""
    actions.person_task(
        session,
        caller.vendor,
        phone=caller.phone,
        reason=choice.records or "callback",
        now=now,
        settings=settings,
    )
    return []


def send_requirements(
    session: Session, caller: Caller, choice: Choice, now: datetime, settings: Settings
) -> list[int]:
    return actions.send_requirements(
        session,
        caller.vendor,
        phone=caller.phone or "",
        key=f"{caller.key}:requirements",
        now=now,
        settings=settings,
    )


def record_outcome(
    session: Session, caller: Caller, choice: Choice, now: datetime, settings: Settings
) -> list[int]:
    """The outcome the choice records, on the reminder call's case."""
    if caller.delivery is not None and choice.records:
        delivery_outcome(
            session, caller.delivery, choice.records, now, {"call_sid": caller.call_sid}
        )
    return []


ACTIONS: dict[str, Action] = {
    "resend_to_agent": resend_to_agent,
    "text_how_to_send": text_how_to_send,
    "call_back": call_back,
    "send_requirements": send_requirements,
    "record_outcome": record_outcome,
}


def apply(
    session: Session,
    menu: Menu,
    caller: Caller,
    params: Mapping[str, str],
    now: datetime,
    *,
    settings: Settings,
) -> list[int]:
    """Apply the choice in `params` (a choice that connects was not put through when it is
    stored). The outbox rows to enqueue."""
    choice = menu.choice(params.get("Digits", ""))
    if choice is None or choice.action is None:
        return []
    caller = replace(caller, call_sid=params.get("CallSid"))
    return ACTIONS[choice.action](session, caller, choice, now, settings)


# --- the TwiML -----------------------------------------------------------------------------

Again = Callable[[VoiceResponse, bool], str]  # the menu once more (True: with its intro)
Record = Callable[[VoiceResponse], None]  # the <Record> verb of a voicemail


def answer(
    menu: Menu,
    digits: str,
    vendor: Vendor,
    context: dict[str, Any],
    *,
    again: Again,
    connect: bool,
    settings: Settings,
    record: Record | None = None,
) -> str:
    """The TwiML of a choice, in the vendor's language (`context`: the templates'; `connect`:
    it is put through now); an unknown digit hears "invalid" and the menu again."""
    voice = Voice(render.twilio_language(vendor.language))

    def say(name: str) -> str:
        return render.voice(name, context, vendor.language)

    choice = menu.choice(digits)
    response = VoiceResponse()
    if choice is None:
        voice.say(response, say("invalid"))
        return again(response, False)
    if choice.then == "repeat":
        return again(response, True)
    if connect and choice.connect:
        voice.say(response, say("connecting"))
        if menu.dial_caller_id:
            response.dial(
                settings.call_center_number, caller_id=settings.twilio_from_number or None
            )
        else:
            response.dial(settings.call_center_number)
        return xml(response)
    prompt = choice.prompt or "goodbye"
    if choice.no_agent_prompt and vendor.agent_id is None:
        prompt = choice.no_agent_prompt
    if choice.then == "record" and record is not None:
        voice.say(response, say(prompt))
        record(response)
        return xml(goodbye(response, voice, say("goodbye")))
    return xml(goodbye(response, voice, say(prompt), say("goodbye")))


def connects(menu: Menu, digits: str, settings: Settings, now: datetime) -> bool:
    """Whether this choice puts the caller through now (the call center is open)."""
    choice = menu.choice(digits)
    return choice is not None and choice.connect and actions.can_dial(settings, now)


def acts(menu: Menu, digits: str) -> bool:
    """Whether this choice writes (so it is stored before it is applied)."""
    choice = menu.choice(digits)
    return choice is not None and choice.action is not None
