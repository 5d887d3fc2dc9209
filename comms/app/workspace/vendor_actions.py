"""What staff do from a vendor's page: send a request now (the email that fits the verdict, to
the agent when there is one), pause or resume its case, edit its contact details. Each is
CSRF-checked, audited on the vendor (the timeline shows it) and announced to other tabs."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route
from comms.app.workspace.security import COMPLIANCE, PageError, check_csrf, require_staff
from comms.compliance import Status
from comms.email.compose import queue_email
from comms.models import Agent, Case, Vendor, audit
from comms.roster.values import parse_optional_email, parse_optional_phone
from comms.staff.sessions import SignedIn
from comms.stored_verdicts import verdict_on
from workflows.lifecycle import CaseError, pause_case, resume_case

TEMPLATE_FOR = {
    Status.MISSING: "certificate_request",
    Status.EXPIRED: "renewal_request",
    Status.EXPIRING: "renewal_request",
    Status.NON_COMPLIANT: "deficiency_notice",
    Status.COMPLIANT: "certificate_request",
}
CONTACT_FIELDS = ("contact_name", "email", "phone")


def _vendor(session: Session, vendor_id: str) -> Vendor:
    if not vendor_id.isdigit() or len(vendor_id) > 12:
        raise PageError(404, f"There is no vendor {vendor_id[:40]!r}.")
    vendor = session.get(Vendor, int(vendor_id))
    if vendor is None:
        raise PageError(404, f"There is no vendor {vendor_id}.")
    return vendor


def send_request(ws: Workspace, vendor_id: str, who: SignedIn, now: datetime) -> str:
    with ws.write() as session:
        vendor = _vendor(session, vendor_id)
        assert vendor.id is not None
        verdict = verdict_on(session, vendor.id, now.astimezone(ws.settings.zone).date())
        agent = session.get(Agent, vendor.agent_id) if vendor.agent_id else None
        kind = "agent" if agent is not None and agent.email else "vendor"
        template = TEMPLATE_FOR[verdict.status]
        # one per vendor and minute: a double click or a second tab sends nothing more
        key = f"staff-request:{vendor.id}:{now.strftime('%Y%m%dT%H%M')}"
        try:
            row, created = queue_email(
                session,
                idempotency_key=key,
                template=template,
                vendor=vendor,
                recipient_kind=kind,
                now=now,
                verdict=verdict,
                cc_vendor=kind == "agent",
                settings=ws.settings,
            )
            session.flush()
        except IntegrityError:
            session.rollback()
            created = False
        if not created:
            raise PageError(
                409, "A request was sent to this vendor a moment ago; nothing more was sent."
            )
        audit(
            session,
            action="vendor.request",
            entity="vendor",
            entity_id=vendor.id,
            actor=who.name,
            at=now,
            data={"before": None, "after": {"delivery": row.id, "template": template}},
        )
        session.commit()
        if row.id is not None and row.status == "queued":
            ws.enqueue(row.id, now)
        if row.status != "queued":
            return f"The {template.replace('_', ' ')} was not sent: {row.error or row.status}."
        return f"The {template.replace('_', ' ')} is on its way to {row.recipient}."


def case_action(
    ws: Workspace, vendor_id: str, case_id: str, action: str, who: SignedIn, now: datetime
) -> str:
    with ws.write() as session:
        vendor = _vendor(session, vendor_id)
        case = session.get(Case, int(case_id)) if case_id.isdigit() and len(case_id) < 12 else None
        if case is None or case.vendor_id != vendor.id:
            raise PageError(404, f"This vendor has no case {case_id[:20]!r}.")
        try:
            (pause_case if action == "pause" else resume_case)(session, case, now=now, by=who.name)
        except CaseError as exc:
            raise PageError(409, f"Nothing was changed: {exc}.") from None
        audit(
            session,
            action=f"vendor.case_{action}",
            entity="vendor",
            entity_id=vendor.id,
            actor=who.name,
            at=now,
            data={"before": {"case": case.id}, "after": {"state": case.state}},
        )
        session.commit()
        return f"Case {case.id} {action}d."


def edit_contact(
    ws: Workspace, vendor_id: str, who: SignedIn, form: dict[str, str], now: datetime
) -> str:
    with ws.write() as session:
        vendor = _vendor(session, vendor_id)
        try:
            wanted: dict[str, Any] = {
                "contact_name": (form.get("contact_name") or "").strip()[:200] or None,
                "email": parse_optional_email(form.get("email")),
                "phone": parse_optional_phone(form.get("phone"), ws.settings.default_region),
            }
        except ValueError as exc:
            raise PageError(422, f"Nothing was changed: {exc}.") from None
        before = {k: getattr(vendor, k) for k in CONTACT_FIELDS}
        changed = {k: v for k, v in wanted.items() if before[k] != v}
        if not changed:
            return "Nothing to change."
        for key, value in changed.items():
            setattr(vendor, key, value)
        if "email" in changed:
            vendor.email_invalid = False
        if "phone" in changed:
            vendor.phone_invalid = False
        vendor.updated_at = now
        session.add(vendor)
        audit(
            session,
            action="vendor.contact",
            entity="vendor",
            entity_id=vendor.id,
            actor=who.name,
            at=now,
            data={"before": {k: before[k] for k in changed}, "after": changed},
        )
        session.commit()
        return "Contact details saved."


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)

    def _done(vendor_id: str, note: str, who: SignedIn) -> Response:
        ws.hub.publish("vendor", {"vendor": int(vendor_id), "by": who.name})
        ws.hub.publish("dashboard", {})
        return RedirectResponse(f"/vendors/{vendor_id}?done={quote(note)}", status_code=303)

    @api.post("/vendors/{vendor_id}/request")
    async def request_now(
        request: Request, vendor_id: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        await check_csrf(request, who)
        note = await asyncio.to_thread(send_request, ws, vendor_id, who, ws.now())
        return _done(vendor_id, note, who)

    @api.post("/vendors/{vendor_id}/cases/{case_id}/{action}")
    async def on_case(
        request: Request,
        vendor_id: str,
        case_id: str,
        action: str,
        who: SignedIn = Depends(compliance),
    ) -> Response:
        await check_csrf(request, who)
        if action not in ("pause", "resume"):
            raise PageError(404, f"There is no case action {action[:20]!r}.")
        note = await asyncio.to_thread(case_action, ws, vendor_id, case_id, action, who, ws.now())
        return _done(vendor_id, note, who)

    @api.post("/vendors/{vendor_id}/contact")
    async def contact(
        request: Request, vendor_id: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        await check_csrf(request, who)
        raw = await request.form()
        form = {k: v for k, v in raw.items() if isinstance(v, str)}
        note = await asyncio.to_thread(edit_contact, ws, vendor_id, who, form, ws.now())
        return _done(vendor_id, note, who)

    return api
