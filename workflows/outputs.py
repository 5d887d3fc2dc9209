"""Turning a planned step into outbox rows, one per recipient.

`plan_delivery` describes the row of one step for one recipient without touching the
database; the planner (`workflows.planner`) puts it on a plan, and an applier writes it.
Content is rendered when the row is first sent, not here (`comms.deferred`): an email row
names its template and recipient (`comms.email.compose.deferred_email`); an SMS, call or
call-task row names its text template under `templates/sms|voice|scripts` when that file
exists, and records the planned step in `content`, which is what the sandbox sender records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from comms.email.compose import deferred_email
from comms.outbox import NewDelivery
from comms.render_spec import render_spec
from comms.settings import Settings
from workflows.definitions import Step
from workflows.records import AgentLike, VendorLike

log = logging.getLogger(__name__)

TEXT_TEMPLATES = {"sms": "sms/{}.txt", "call": "voice/{}.txt", "call_task": "scripts/{}.md"}


@dataclass(frozen=True)
class Recipient:
    kind: str  # vendor, agent, client
    address: str | None
    skip_reason: str | None = None


def idempotency_key(case_id: int, step_id: str, kind: str, attempt: int = 0) -> str:
    base = f"case-{case_id}-{step_id}-{kind}"
    return f"{base}-a{attempt}" if attempt else base


def recipient_for(
    kind: str, channel: str, vendor: VendorLike, agent: AgentLike | None, settings: Settings
) -> Recipient:
    """The address of one recipient on one channel, or why there is none."""
    if kind == "client":
        if channel != "email":
            return Recipient(kind, None, "the client contact is reached by email only")
        addr = settings.client_contact_email or None
        return Recipient(kind, addr, None if addr else "no client_contact_email configured")
    if kind == "agent":
        if agent is None:
            return Recipient(kind, None, "the vendor has no agent")
        if channel == "email":
            if agent.email_invalid:
                return Recipient(kind, None, "the agent's email is flagged invalid")
            return Recipient(kind, agent.email, None if agent.email else "the agent has no email")
        if agent.phone_invalid:
            return Recipient(kind, None, "the agent's phone is flagged invalid")
        return Recipient(kind, agent.phone, None if agent.phone else "the agent has no phone")
    if channel == "email":
        if vendor.opt_out_email:
            return Recipient(kind, None, "the vendor opted out of email")
        if vendor.email_invalid:
            return Recipient(kind, None, "the vendor's email is flagged invalid")
        return Recipient(kind, vendor.email, None if vendor.email else "the vendor has no email")
    if vendor.phone_invalid:
        return Recipient(kind, None, "the vendor's phone is flagged invalid")
    if channel == "sms" and vendor.opt_out_sms:
        return Recipient(kind, None, "the vendor opted out of SMS")
    if channel == "call" and vendor.opt_out_call:
        return Recipient(kind, None, "the vendor opted out of calls")
    return Recipient(kind, vendor.phone, None if vendor.phone else "the vendor has no phone")


@dataclass(frozen=True)
class PlannedDelivery:
    new: NewDelivery
    skip_reason: str | None = None  # why the email cannot go (`SKIP_ERRORS`), or None


def _text_template(channel: str, template: str) -> str | None:
    """The template path for a non-email channel when the file exists."""
    from comms.templating import templates_dir

    path = TEXT_TEMPLATES[channel].format(template)
    return path if (templates_dir() / path).is_file() else None


def plan_delivery(
    *,
    case_id: int,
    workflow: str,
    step: Step,
    vendor: VendorLike,
    agent: AgentLike | None,
    recipient: Recipient,
    now: datetime,
    attempt: int,
    settings: Settings,
) -> PlannedDelivery:
    """The outbox row of one step for one recipient (not yet created)."""
    assert recipient.address is not None
    key = idempotency_key(case_id, step.id, recipient.kind, attempt)
    if step.channel == "email":
        new, reason = deferred_email(
            idempotency_key=key,
            template=step.template,
            vendor=vendor,
            agent=agent,
            recipient_kind=recipient.kind,
            now=now,
            settings=settings,
            vendor_id=vendor.id,
            case_id=case_id,
            step=step.id,
        )
        return PlannedDelivery(new, reason)
    path = _text_template(step.channel, step.template)
    content: dict[str, Any] = {
        "planned": {
            "workflow": workflow,
            "step": step.id,
            "template": step.template,
            "attempt": attempt,
        },
        "template_path": path,
    }
    if path is not None:
        content["render"] = render_spec(now)
    new = NewDelivery(
        idempotency_key=key,
        channel=step.channel,
        recipient=recipient.address,
        recipient_kind=recipient.kind,
        vendor_id=vendor.id,
        case_id=case_id,
        step=step.id,
        template=step.template,
        content=content,
    )
    return PlannedDelivery(new)
