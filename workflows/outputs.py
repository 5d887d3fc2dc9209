"""Turning a planned step into outbox rows, one per recipient.

Email goes through `comms.email.compose.queue_email` (rendering, reply token, Message-ID).
SMS, calls and call tasks become Delivery rows created here, with their text rendered from
`templates/sms|voice|scripts` when that template exists; until then the row records the
planned step and template name in `content`, which is what the sandbox sender records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from comms.compliance import Verdict
from comms.models import Agent, Case, Delivery, Vendor
from comms.outbox import NewDelivery, create_delivery
from comms.settings import Settings
from workflows.definitions import Step

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
    kind: str, channel: str, vendor: Vendor, agent: Agent | None, settings: Settings
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


def _context(
    session: Session, vendor: Vendor, case: Case, verdict: Verdict, kind: str, now: Any
) -> dict[str, Any]:
    from comms.context import template_context

    return template_context(
        session, vendor, now=now, case=case, verdict=verdict, recipient_kind=kind
    )


def _text_template(channel: str, template: str) -> str | None:
    """The template path for a non-email channel when the file exists."""
    from comms.templating import templates_dir

    path = TEXT_TEMPLATES[channel].format(template)
    return path if (templates_dir() / path).is_file() else None


def emit(
    session: Session,
    *,
    case: Case,
    step: Step,
    vendor: Vendor,
    recipient: Recipient,
    verdict: Verdict,
    now: Any,
    attempt: int = 0,
) -> tuple[Delivery, bool]:
    """Create (idempotently) the outbox row of one step for one recipient."""
    assert case.id is not None and recipient.address is not None
    key = idempotency_key(case.id, step.id, recipient.kind, attempt)
    planned = {
        "workflow": case.workflow,
        "step": step.id,
        "template": step.template,
        "attempt": attempt,
    }
    if step.channel == "email":
        try:
            from comms.email.compose import queue_email
        except ModuleNotFoundError as exc:  # issue 3 not present: record the plan only
            if exc.name not in ("comms.email.compose", "comms.email"):
                raise
        else:
            return queue_email(
                session,
                idempotency_key=key,
                template=step.template,
                vendor=vendor,
                recipient_kind=recipient.kind,
                now=now,
                case=case,
                step=step.id,
                verdict=verdict,
            )
        return create_delivery(
            session,
            NewDelivery(
                idempotency_key=key,
                channel="email",
                recipient=recipient.address,
                recipient_kind=recipient.kind,
                vendor_id=vendor.id,
                case_id=case.id,
                step=step.id,
                template=step.template,
                content={"planned": planned},
            ),
            now=now,
        )
    body: str | None = None
    path = _text_template(step.channel, step.template)
    if path is not None:
        from comms.templating import render_text

        body = render_text(path, _context(session, vendor, case, verdict, recipient.kind, now))
    return create_delivery(
        session,
        NewDelivery(
            idempotency_key=key,
            channel=step.channel,
            recipient=recipient.address,
            recipient_kind=recipient.kind,
            vendor_id=vendor.id,
            case_id=case.id,
            step=step.id,
            template=step.template,
            body_text=body,
            content={"planned": planned, "template_path": path},
        ),
        now=now,
    )
