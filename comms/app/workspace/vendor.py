"""One vendor, `/vendors/{id}`: the verdict in words, certificates and their documents,
policies, the agent, and a timeline of what happened, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, require_staff
from comms.models import (
    Agent,
    Case,
    CaseEvent,
    Certificate,
    Delivery,
    Policy,
    RequirementProfile,
    Vendor,
    Waiver,
)
from comms.profiles import spec_of
from comms.staff.sessions import SignedIn
from comms.verdicts import vendor_verdict
from comms.waivers import choices, is_live
from inbound.models import InboundEmail
from telephony.models import CallTask

PER_SOURCE = 50  # newest rows read from each source of the timeline
TIMELINE = 100
CERTIFICATES = 20


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # email, sms, call, call_task, inbound, case
    title: str
    detail: str = ""
    status: str = ""


def _deliveries(session: Session, vendor_id: int) -> list[Entry]:
    rows = session.exec(
        select(Delivery)
        .where(col(Delivery.vendor_id) == vendor_id)
        .order_by(col(Delivery.created_at).desc())
        .limit(PER_SOURCE)
    ).all()
    return [
        Entry(
            at=d.sent_at or d.created_at,
            kind=d.channel,
            title=d.subject or f"{d.channel} to {d.recipient_kind}: {d.template}",
            detail=d.body_text or "",
            status=d.status + (f" ({d.error})" if d.error else ""),
        )
        for d in rows
    ]


def _case_events(session: Session, vendor_id: int) -> list[Entry]:
    rows = session.exec(
        select(CaseEvent, Case)
        .join(Case, col(Case.id) == col(CaseEvent.case_id))
        .where(col(Case.vendor_id) == vendor_id)
        .order_by(col(CaseEvent.at).desc())
        .limit(PER_SOURCE)
    ).all()
    out = []
    for event, case in rows:
        change = f"{event.from_state} → {event.to_state}" if event.to_state else ""
        title = f"case {case.id} ({case.trigger}): {event.kind.replace('_', ' ')}"
        detail = " ".join(p for p in (change, event.step or "", event.reason) if p)
        out.append(Entry(at=event.at, kind="case", title=title, detail=detail))
    return out


def _inbound(session: Session, vendor_id: int) -> list[Entry]:
    rows = session.execute(  # columns only: the raw message stays in the database
        select_columns(
            col(InboundEmail.received_at),
            col(InboundEmail.subject),
            col(InboundEmail.classification),
            col(InboundEmail.reply_text),
            col(InboundEmail.status),
        )
        .where(col(InboundEmail.vendor_id) == vendor_id)
        .order_by(col(InboundEmail.received_at).desc())
        .limit(PER_SOURCE)
    ).all()
    return [
        Entry(
            at=at,
            kind="inbound",
            title=f"received: {subject or '(no subject)'}",
            detail=text or "",
            status=f"{kind or '?'}, {status}",
        )
        for at, subject, kind, text, status in rows
    ]


def _tasks(session: Session, vendor_id: int) -> list[Entry]:
    rows = session.exec(
        select(CallTask)
        .where(col(CallTask.vendor_id) == vendor_id)
        .order_by(col(CallTask.created_at).desc())
        .limit(PER_SOURCE)
    ).all()
    return [
        Entry(
            at=t.completed_at or t.created_at,
            kind="call_task",
            title=f"call task for {t.target_kind} {t.target_name}: {t.reason}",
            detail=(f"outcome {t.outcome} by {t.claimed_by}" if t.outcome else ""),
            status=t.status,
        )
        for t in rows
    ]


def timeline(session: Session, vendor_id: int) -> list[Entry]:
    entries = [
        *_deliveries(session, vendor_id),
        *_case_events(session, vendor_id),
        *_inbound(session, vendor_id),
        *_tasks(session, vendor_id),
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:TIMELINE]


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)

    @api.get("/vendors/{vendor_id}")
    def vendor_page(
        request: Request, vendor_id: str, _who: SignedIn = Depends(compliance)
    ) -> Response:
        if not vendor_id.isdigit() or len(vendor_id) > 12:
            raise PageError(
                404, f"There is no vendor {vendor_id[:40]!r}: a vendor's page is /vendors/NUMBER."
            )
        with ws.read() as session:
            vendor = session.get(Vendor, int(vendor_id))
            if vendor is None:
                raise PageError(404, f"There is no vendor {vendor_id}.")
            assert vendor.id is not None
            verdict = vendor_verdict(session, vendor, ws.today())
            agent = session.get(Agent, vendor.agent_id) if vendor.agent_id else None
            profile = (
                session.get(RequirementProfile, vendor.profile_id) if vendor.profile_id else None
            )
            certs = session.exec(
                select(Certificate)
                .where(col(Certificate.vendor_id) == vendor.id)
                .order_by(col(Certificate.received_at).desc(), col(Certificate.id).desc())
                .limit(CERTIFICATES)
            ).all()
            ids = [c.id for c in certs]
            policies = session.exec(
                select(Policy)
                .where(col(Policy.certificate_id).in_(ids))
                .order_by(col(Policy.coverage), col(Policy.expiration_date))
            ).all()
            events = timeline(session, vendor.id)
            waivers = session.exec(
                select(Waiver)
                .where(col(Waiver.vendor_id) == vendor.id)
                .order_by(col(Waiver.granted_at).desc(), col(Waiver.id).desc())
                .limit(50)
            ).all()
        by_cert: dict[int, list[Policy]] = {}
        for p in policies:
            by_cert.setdefault(p.certificate_id, []).append(p)
        return render(
            ws,
            request,
            "vendor.html",
            title=vendor.name,
            vendor=vendor,
            verdict=verdict,
            agent=agent,
            profile=profile,
            certificates=certs,
            policies=by_cert,
            timeline=events,
            zone=ws.settings.timezone,
            waivers=[(w, is_live(w, ws.today())) for w in waivers],
            waiver_choices=choices(spec_of(profile)) if profile else [],
            may_grant_permanent=_who.role == "admin",
            today=ws.today(),
        )

    return api
