"""One vendor, `/vendors/{id}`: the verdict in words, certificates and their documents,
policies, the agent, and a timeline of what happened, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, or_, select

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, require_staff
from comms.models import (
    OPEN_STATES,
    Agent,
    AuditLog,
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
from comms.stored_verdicts import history, verdict_on
from comms.waivers import choices, is_live
from inbound.models import InboundEmail
from telephony.models import CallTask

PER_SOURCE = 50  # newest rows read from each source of the timeline
TIMELINE = 100
CERTIFICATES = 20


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # email, sms, call, call_task, inbound, case, staff, verdict
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


AUDIT_WORDS = {
    "waiver.grant": "waiver granted",
    "waiver.revoke": "waiver revoked",
    "vendor.request": "request sent now",
    "vendor.contact": "contact details edited",
    "vendor.case_pause": "case paused",
    "vendor.case_resume": "case resumed",
    "inbound.assign": "message assigned to this vendor",
    "workspace.review": "certificate reviewed",
    "certificate.accept": "certificate accepted",
    "certificate.reject": "certificate rejected",
    "certificate.correct": "certificate field corrected",
}


def _describe(data: dict[str, object]) -> str:
    parts = []
    for side in ("before", "after"):
        value = data.get(side)
        if value:
            parts.append(f"{side}: {value}")
    if not parts:
        parts = [f"{k}: {v}" for k, v in data.items() if v not in (None, "", [], {})]
    return "; ".join(parts)[:500]


def _staff_actions(session: Session, vendor_id: int, cert_ids: list[int]) -> list[Entry]:
    """Audit entries on the vendor, its certificates and its cases (the (entity, entity_id,
    at) index answers each)."""
    case_ids = [
        c
        for c in session.exec(
            select(Case.id)
            .where(col(Case.vendor_id) == vendor_id)
            .order_by(col(Case.id).desc())
            .limit(PER_SOURCE)
        ).all()
        if c is not None
    ]
    wanted = [(col(AuditLog.entity) == "vendor") & (col(AuditLog.entity_id) == vendor_id)]
    if cert_ids:
        wanted.append(
            (col(AuditLog.entity) == "certificate") & col(AuditLog.entity_id).in_(cert_ids)
        )
    if case_ids:
        wanted.append((col(AuditLog.entity) == "case") & col(AuditLog.entity_id).in_(case_ids))
    rows = session.exec(
        select(AuditLog).where(or_(*wanted)).order_by(col(AuditLog.at).desc()).limit(PER_SOURCE)
    ).all()
    return [
        Entry(
            at=r.at,
            kind="staff",
            title=f"{r.actor}: {AUDIT_WORDS.get(r.action, r.action.replace('.', ' '))}"
            + (f" ({r.entity} {r.entity_id})" if r.entity != "vendor" else ""),
            detail=_describe(r.data or {}),
        )
        for r in rows
    ]


def status_words(old: str | None, new: str) -> str:
    """A stored verdict's change of status in words."""
    new_words = new.replace("_", " ")
    if old is None:
        return f"Status set to {new_words}"
    return f"Status changed from {old.replace('_', ' ')} to {new_words}"


def _verdict_changes(session: Session, vendor_id: int) -> list[Entry]:
    """The vendor's `verdict_change` rows (the (vendor_id, at) index), newest first."""
    return [
        Entry(at=c.at, kind="verdict", title=status_words(c.old_status, c.new_status),
              detail=c.reason.replace("_", " "))
        for c in history(session, vendor_id, limit=PER_SOURCE)
    ]  # fmt: skip


def timeline(session: Session, vendor_id: int, cert_ids: list[int] | None = None) -> list[Entry]:
    entries = [
        *_deliveries(session, vendor_id),
        *_case_events(session, vendor_id),
        *_inbound(session, vendor_id),
        *_tasks(session, vendor_id),
        *_staff_actions(session, vendor_id, cert_ids or []),
        *_verdict_changes(session, vendor_id),
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:TIMELINE]


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)

    @api.get("/vendors/{vendor_id}")
    def vendor_page(
        request: Request, vendor_id: str, _who: SignedIn = Depends(compliance), done: str = ""
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
            verdict = verdict_on(session, vendor.id, ws.today())
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
            events = timeline(session, vendor.id, [c for c in ids if c is not None])
            cases = session.exec(
                select(Case)
                .where(col(Case.vendor_id) == vendor.id, col(Case.state).in_(OPEN_STATES))
                .order_by(col(Case.id))
            ).all()
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
            cases=cases,
            done=done[:200],
            waiver_choices=choices(spec_of(profile)) if profile else [],
            may_grant_permanent=_who.role == "admin",
            today=ws.today(),
        )

    return api
