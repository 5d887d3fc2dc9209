"""The email channel's specification (`comms.channel_spec`)."""

from __future__ import annotations

from typing import Any

from comms.channel_spec import ChannelSpec, Contact, Recipient, RowRequest, contact_address
from comms.email.compose import deferred_email, rendered_email
from comms.email.sender import email_sender
from comms.models import Delivery
from comms.outbox import NewDelivery
from comms.settings import Settings


def email_address(kind: str, vendor: Any, agent: Contact | None, settings: Settings) -> Recipient:
    """The email address of the vendor, its agent or the client contact, or why there is none."""
    if kind == "client":
        addr = settings.client_contact_email or None
        return Recipient(kind, addr, None if addr else "no client_contact_email configured")
    if kind == "agent":
        if agent is None:
            return Recipient(kind, None, "the vendor has no agent")
        return contact_address(kind, agent, "email", who="the agent")
    if vendor.opt_out_email:
        return Recipient(kind, None, "the vendor opted out of email")
    return contact_address(kind, vendor, "email", who="the vendor")


def email_row(spec: ChannelSpec, req: RowRequest) -> tuple[NewDelivery, str | None]:
    """A deferred email (rendered when sent), and why it cannot go (`SKIP_ERRORS`) or None."""
    return deferred_email(
        idempotency_key=req.idempotency_key,
        template=req.template,
        vendor=req.vendor,
        agent=req.agent,
        recipient_kind=req.recipient.kind,
        now=req.now,
        settings=req.settings,
        vendor_id=req.vendor.id,
        case_id=req.case_id,
        step=req.step,
    )


def render_email_row(
    spec: ChannelSpec, row: Delivery, context: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    return rendered_email(row, context, settings=settings)


EMAIL = ChannelSpec(
    name="email",
    sender=email_sender,
    template="email/{}.txt",
    plan_row=email_row,
    render=render_email_row,
    window="business_days",
    find_address=email_address,
    failure_outcome="email_bounced",
    opt_out="opt_out_email",
)
