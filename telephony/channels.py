"""The specifications (`comms.channel_spec`) of the channels telephony delivers: SMS, the
automated reminder call and the call task for call-center staff. Each reaches the vendor's or
the agent's phone; SMS and calls wait for the recipient's quiet hours, call tasks for a
business day."""

from __future__ import annotations

from typing import Any

from comms.channel_spec import (
    AddressFinder,
    ChannelSpec,
    Contact,
    Recipient,
    Window,
    contact_address,
)
from comms.channels import SenderFactory
from comms.settings import Settings
from comms.text_channel import render_text_row, text_row
from telephony.render import DEFAULT_LANGUAGE
from telephony.senders import CallTaskSender, call_sender, sms_sender


def phone_address(opt_out: str | None, opted_out: str) -> AddressFinder:
    """The phone of the vendor or its agent, unless flagged invalid or (the vendor) opted out
    through its flag `opt_out`; the client contact is reached by email only."""

    def find(kind: str, vendor: Any, agent: Contact | None, settings: Settings) -> Recipient:
        if kind == "client":
            return Recipient(kind, None, "the client contact is reached by email only")
        if kind == "agent":
            if agent is None:
                return Recipient(kind, None, "the vendor has no agent")
            return contact_address(kind, agent, "phone", who="the agent")
        if not vendor.phone_invalid and opt_out is not None and getattr(vendor, opt_out):
            return Recipient(kind, None, f"the vendor opted out of {opted_out}")
        return contact_address(kind, vendor, "phone", who="the vendor")

    return find


def _by_phone(
    name: str, sender: SenderFactory, template: str, window: Window, opt_out: str | None,
    opted_out: str, failure_outcome: str | None,
) -> ChannelSpec:  # fmt: skip
    """A channel whose row is one text template and whose recipient is a phone number."""
    return ChannelSpec(
        name=name,
        sender=sender,
        template=template,
        plan_row=text_row,
        render=render_text_row,
        window=window,
        find_address=phone_address(opt_out, opted_out),
        failure_outcome=failure_outcome,
        opt_out=opt_out,
        by_phone=True,
    )


SMS = _by_phone("sms", sms_sender, "sms/{}.txt", "quiet_hours", "opt_out_sms", "SMS", "sms_failed")
# the prompt the call opens with (`telephony.reminder_call`), in the default language on the
# row; the call itself speaks the vendor's
CALL = _by_phone(
    "call", call_sender, f"voice/{DEFAULT_LANGUAGE}/{{}}.txt", "quiet_hours", "opt_out_call",
    "calls", "call_failed",
)  # fmt: skip
CALL_TASK = _by_phone("call_task", CallTaskSender, "scripts/{}.md", "business_days", None, "", None)
