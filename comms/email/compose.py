"""Queue an email: render the template, create the outbox row, sign its reply token.

The row is created first (its id goes into the reply token), then the token, the Reply-To
address and the Message-ID are recorded on it in the same transaction, so every retry of the
delivery carries the same headers. A vendor (or agent) without a usable address still gets a
row, `skipped` with an error code, so the workflow and the audit trail see why nothing went.

The workflow scheduler plans many emails at once and does not render them: `deferred_email`
describes the row (recipient, template, the moment its context is taken at) and
`render_email_row` renders and signs it just before its first send (`comms.deferred`),
storing the subject, both parts and the headers on the row for the audit trail and for every
retry.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from sqlmodel import Session, select

from comms.compliance import Verdict
from comms.context import template_context
from comms.models import Agent, Case, Delivery, DeliveryStatus, Vendor
from comms.outbox import NewDelivery, create_delivery
from comms.outbox_bulk import Created, create_deliveries
from comms.render_spec import render_spec, rendered_spec
from comms.settings import Settings, get_settings
from comms.templating import TemplateNotFound, email_template_names, render_email
from comms.tokens import make_token, reply_address

NO_CASE = 0


def make_message_id(delivery_id: int, domain: str) -> str:
    return f"<coi.{delivery_id}.{secrets.token_hex(8)}@{domain}>"


@dataclass(frozen=True)
class Signature:
    reply_token: str
    message_id: str
    reply_to: str


def signature(delivery: Delivery, settings: Settings) -> Signature:
    """The reply token (naming the case and the delivery), the Message-ID and the Reply-To
    address of a new row."""
    assert delivery.id is not None
    token = make_token(delivery.case_id or NO_CASE, delivery.id, settings.signing_key())
    return Signature(
        reply_token=token,
        message_id=make_message_id(delivery.id, settings.reply_domain),
        reply_to=reply_address(
            token, local_part=settings.reply_local_part, domain=settings.reply_domain
        ),
    )


def sign_delivery(delivery: Delivery, settings: Settings) -> None:
    """Record the reply token, the Reply-To address and the Message-ID on a new row."""
    signed = signature(delivery, settings)
    delivery.reply_token = signed.reply_token
    delivery.message_id = signed.message_id
    delivery.content = {**(delivery.content or {}), "reply_to": signed.reply_to}


SKIP_ERRORS = {
    "no_address": "no email address on file",
    "opted_out": "the vendor opted out of email",
    "invalid_address": "the address is flagged invalid after a bounce",
}


class EmailVendor(Protocol):
    """What choosing an email recipient reads of a vendor (a `Vendor` row, or a plain record)."""

    @property
    def email(self) -> str | None: ...
    @property
    def opt_out_email(self) -> bool: ...
    @property
    def email_invalid(self) -> bool: ...


class EmailAgent(Protocol):
    @property
    def email(self) -> str | None: ...
    @property
    def email_invalid(self) -> bool: ...


def _usable(address: str | None) -> bool:
    return bool(address and "@" in address)


def email_recipients(
    vendor: EmailVendor,
    agent: EmailAgent | None,
    recipient_kind: str,
    settings: Settings,
    cc_vendor: bool = False,
) -> tuple[str, str, list[str], str | None]:
    """(recipient kind actually used, address, cc, reason it cannot be sent or None)."""
    vendor_ok = _usable(vendor.email) and not vendor.opt_out_email and not vendor.email_invalid
    vendor_addr = vendor.email or ""
    if recipient_kind == "agent":
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


def _recipients(
    session: Session, vendor: Vendor, recipient_kind: str, settings: Settings, cc_vendor: bool
) -> tuple[str, str, list[str], str | None]:
    agent = None
    if recipient_kind == "agent" and vendor.agent_id is not None:
        agent = session.get(Agent, vendor.agent_id)
    return email_recipients(vendor, agent, recipient_kind, settings, cc_vendor)


def skip_unsendable(row: Delivery, reason: str | None) -> None:
    """A new row whose recipient cannot be emailed is `skipped`, with the reason."""
    if reason is not None and row.status == DeliveryStatus.QUEUED.value:
        row.status = DeliveryStatus.SKIPPED.value
        row.error_code = reason
        row.error = SKIP_ERRORS[reason]


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
    skip_unsendable(row, reason)
    sign_delivery(row, s)
    session.add(row)
    session.flush()
    return row, True


def deferred_email(
    *,
    idempotency_key: str,
    template: str,
    vendor: EmailVendor,
    agent: EmailAgent | None,
    recipient_kind: str,
    now: datetime,
    settings: Settings,
    vendor_id: int | None,
    case_id: int | None,
    step: str | None,
    cc_vendor: bool = False,
) -> tuple[NewDelivery, str | None]:
    """The outbox row of an email rendered at send time, and why it cannot be sent (or None).

    Pure: the caller creates the row (one at a time or in bulk) and marks it skipped for the
    reason (`skip_unsendable`, `SKIP_ERRORS`)."""
    kind, address, cc, reason = email_recipients(vendor, agent, recipient_kind, settings, cc_vendor)
    if not cc and kind == recipient_kind:
        content = _plain_content(now)  # the common case: one object for a whole batch
    else:
        content = {"cc": cc, "render": render_spec(now)}
        if kind != recipient_kind:
            content["requested_recipient"] = recipient_kind
    new = NewDelivery(
        idempotency_key=idempotency_key,
        channel="email",
        recipient=address,
        recipient_kind=kind,
        template=template,
        vendor_id=vendor_id,
        case_id=case_id,
        step=step,
        content=content,
    )
    return new, reason


@lru_cache(maxsize=64)
def _plain_content(now: datetime) -> dict[str, Any]:
    """The content of a deferred email without Cc, planned at `now`: shared, never changed in
    place (rendering stores a new dict)."""
    return {"cc": [], "render": render_spec(now)}


@dataclass(frozen=True)
class EmailRequest:
    """One email of `queue_emails`: to the vendor, its agent or the client contact."""

    idempotency_key: str
    template: str
    vendor: Vendor
    recipient_kind: str = "vendor"
    agent: Agent | None = None
    case_id: int | None = None
    step: str | None = None
    cc_vendor: bool = False  # an email to the agent copies the vendor


def queue_emails(
    session: Session, requests: Sequence[EmailRequest], *, now: datetime, settings: Settings
) -> list[Created]:
    """The outbox rows of many emails at once, in one statement (`comms.outbox_bulk`), each
    rendered and signed at its first send with its context as of `now` (`comms.deferred`).
    Existing keys are left alone; unsendable recipients get `skipped` rows. Raises
    TemplateNotFound for an unknown template before anything is written. Does not commit."""
    for name in sorted({r.template for r in requests}):
        if name not in email_template_names():
            raise TemplateNotFound(f"email/{name}.subject.txt", None, f"no email template {name!r}")
    items = [
        deferred_email(
            idempotency_key=r.idempotency_key,
            template=r.template,
            vendor=r.vendor,
            agent=r.agent,
            recipient_kind=r.recipient_kind,
            now=now,
            settings=settings,
            vendor_id=r.vendor.id,
            case_id=r.case_id,
            step=r.step,
            cc_vendor=r.cc_vendor,
        )
        for r in requests
    ]
    return create_deliveries(session, items, now=now, skip_errors=SKIP_ERRORS)


def rendered_email(row: Delivery, context: dict[str, Any], *, settings: Settings) -> dict[str, Any]:
    """The column values of a deferred email row rendered with its context (as of the moment
    it was planned), signed unless it already carries a token. Raises TemplateError."""
    rendered = render_email(row.template, context)
    content = rendered_spec(row.content)
    values: dict[str, Any] = {
        "subject": rendered.subject,
        "body_text": rendered.text,
        "body_html": rendered.html,
        "reply_token": row.reply_token,
        "message_id": row.message_id,
        "content": content,
    }
    if row.reply_token is None:
        signed = signature(row, settings)
        values["reply_token"] = signed.reply_token
        values["message_id"] = signed.message_id
        content["reply_to"] = signed.reply_to
    return values
