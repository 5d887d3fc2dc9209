"""Queue an email: render the template, create the outbox row, sign its reply token.

The row is created first (its id goes into the reply token), then the token, the Reply-To
address and the Message-ID are recorded on it in the same transaction, so every retry of the
delivery carries the same headers. A vendor (or agent) without a usable address still gets a
row, `skipped` with an error code, so the workflow and the audit trail see why nothing went.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from comms.compliance import Verdict
from comms.context import template_context
from comms.models import Agent, Case, Delivery, DeliveryStatus, Vendor
from comms.outbox import NewDelivery, create_delivery
from comms.settings import Settings, get_settings
from comms.templating import render_email
from comms.tokens import make_token, reply_address

NO_CASE = 0


def make_message_id(delivery_id: int, domain: str) -> str:
    return f"<coi.{delivery_id}.{secrets.token_hex(8)}@{domain}>"


def sign_delivery(delivery: Delivery, settings: Settings) -> None:
    """Record the reply token, the Reply-To address and the Message-ID on a new row."""
    assert delivery.id is not None
    token = make_token(delivery.case_id or NO_CASE, delivery.id, settings.signing_key())
    delivery.reply_token = token
    delivery.message_id = make_message_id(delivery.id, settings.reply_domain)
    delivery.content = {
        **(delivery.content or {}),
        "reply_to": reply_address(
            token, local_part=settings.reply_local_part, domain=settings.reply_domain
        ),
    }


def _usable(address: str | None) -> bool:
    return bool(address and "@" in address)


def _recipients(
    session: Session, vendor: Vendor, recipient_kind: str, settings: Settings, cc_vendor: bool
) -> tuple[str, str, list[str], str | None]:
    """(recipient kind actually used, address, cc, reason it cannot be sent or None)."""
    vendor_ok = _usable(vendor.email) and not vendor.opt_out_email and not vendor.email_invalid
    vendor_addr = vendor.email or ""
    if recipient_kind == "agent":
        agent = session.get(Agent, vendor.agent_id) if vendor.agent_id is not None else None
        if agent is not None and _usable(agent.email) and not agent.email_invalid:
            cc = [vendor_addr] if cc_vendor and vendor_ok else []
            return "agent", agent.email or "", cc, None
        # No usable agent address: the vendor is asked to pass it on.
        recipient_kind = "vendor"
    if recipient_kind == "client":
        addr = settings.client_contact_email
        return "client", addr, [], None if _usable(addr) else "no_address"
    reason = None
    if not _usable(vendor.email):
        reason = "no_address"
    elif vendor.opt_out_email:
        reason = "opted_out"
    elif vendor.email_invalid:
        reason = "invalid_address"
    return "vendor", vendor_addr, [], reason


def queue_email(
    session: Session,
    *,
    idempotency_key: str,
    template: str,
    vendor: Vendor,
    recipient_kind: str,
    now: datetime,
    case: Case | None = None,
    step: str | None = None,
    verdict: Verdict | None = None,
    cc_vendor: bool = False,
    in_reply_to: str | None = None,
    extra: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> tuple[Delivery, bool]:
    """Render `template` for the vendor and create its outbox row. Returns (row, created).

    Idempotent by key: an existing row is returned untouched (nothing is rendered again).
    Raises `comms.templating.TemplateError` when the template cannot be rendered. Does not
    commit; the caller's transaction makes the row, its token and its Message-ID visible at
    once.
    """
    found = session.exec(
        select(Delivery).where(Delivery.idempotency_key == idempotency_key)
    ).first()
    if found is not None:
        return found, False
    s = settings or get_settings()
    kind, address, cc, reason = _recipients(session, vendor, recipient_kind, s, cc_vendor)
    context = template_context(
        session, vendor, now=now, case=case, verdict=verdict, recipient_kind=kind, settings=s
    )
    if extra:
        context.update(extra)
    rendered = render_email(template, context)
    content: dict[str, Any] = {"cc": cc}
    if kind != recipient_kind:
        content["requested_recipient"] = recipient_kind
    row, created = create_delivery(
        session,
        NewDelivery(
            idempotency_key=idempotency_key,
            channel="email",
            recipient=address,
            recipient_kind=kind,
            template=template,
            vendor_id=vendor.id,
            case_id=case.id if case is not None else None,
            step=step,
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            content=content,
            in_reply_to=in_reply_to,
        ),
        now=now,
    )
    if not created:
        return row, False
    if reason is not None and row.status == DeliveryStatus.QUEUED.value:
        row.status = DeliveryStatus.SKIPPED.value
        row.error_code = reason
        row.error = {
            "no_address": "no email address on file",
            "opted_out": "the vendor opted out of email",
            "invalid_address": "the address is flagged invalid after a bounce",
        }[reason]
    sign_delivery(row, s)
    session.add(row)
    session.flush()
    return row, True
