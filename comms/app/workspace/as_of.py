"""The point-in-time answer, `/vendors/{id}/as-of?date=D`: was the vendor compliant on D, with
what the service knew at the end of D (certificates received by then that count); for each
required coverage, the certificate and policy that covered it, where the certificate came from
(an email: sender, subject, Message-ID; an upload; the roster) and who accepted it and when;
the waivers that applied. A page meant to be printed or saved as a PDF for an auditor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import Session, col, select

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, require_staff
from comms.compliance import Verdict, evaluate
from comms.coverage import coverage_name
from comms.models import AuditLog, Certificate, Policy, Vendor, Waiver
from comms.staff.sessions import SignedIn
from comms.verdicts import COUNTING_STATUSES, facts_of, profile_for
from comms.waivers import waiver_rules
from inbound.models import InboundEmail

ACCEPTANCES = ("certificate.accept", "workspace.review")
EARLIEST = date(1990, 1, 1)


@dataclass(frozen=True)
class Covered:
    coverage: str
    name: str
    policy: Policy | None
    certificate: Certificate | None
    origin: str
    accepted: str


def _origin(session: Session, cert: Certificate) -> str:
    if cert.inbound_message_id is not None:
        row = session.get(InboundEmail, cert.inbound_message_id)
        if row is not None:
            return (
                f"email from {row.sender or 'an unknown sender'}, subject "
                f"{row.subject or '(none)'!r}, Message-ID {row.message_id or '—'}, message "
                f"#{row.id}"
            )
    ref = f" {cert.reference}" if cert.reference else ""
    return {"roster": f"roster import{ref}", "upload": f"upload{ref}"}.get(
        cert.source, f"{cert.source}{ref}"
    )


def _accepted(session: Session, cert: Certificate, zone_fmt: str, ws: Workspace) -> str:
    entry = session.exec(
        select(AuditLog)
        .where(
            col(AuditLog.entity) == "certificate",
            col(AuditLog.entity_id) == cert.id,
            col(AuditLog.action).in_(ACCEPTANCES),
        )
        .order_by(col(AuditLog.at))
    ).first()
    if entry is not None:
        return f"accepted by {entry.actor} on {entry.at.astimezone(ws.settings.zone):{zone_fmt}}"
    when = cert.received_at.astimezone(ws.settings.zone)
    if cert.source == "roster":
        return f"on file from the roster since {when:{zone_fmt}}"
    return f"accepted on receipt ({when:{zone_fmt}}): every field read with confidence"


def answer(
    ws: Workspace, session: Session, vendor: Vendor, day: date
) -> tuple[Verdict, list[Covered], list[Waiver]]:
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), ws.settings.zone)
    rows = session.exec(
        select(Policy, Certificate)
        .join(Certificate, col(Certificate.id) == col(Policy.certificate_id))
        .where(
            col(Policy.vendor_id) == vendor.id,
            col(Certificate.status).in_(COUNTING_STATUSES),
            col(Certificate.received_at) < end_of_day.astimezone(UTC),
        )
    ).all()
    assert vendor.id is not None
    rules = waiver_rules(session, [vendor.id]).get(vendor.id, [])
    profile = profile_for(session, vendor)
    verdict = evaluate(
        [facts_of(p, c) for p, c in rows],
        profile,
        day,
        has_certificate=bool(rows),
        waivers=rules,
    )
    fmt = "%Y-%m-%d %H:%M %Z"
    covered: list[Covered] = []
    for key, req in profile.coverages.items():
        in_force = [
            (p, c)
            for p, c in rows
            if p.coverage == key
            and (p.effective_date is None or p.effective_date <= day)
            and p.expiration_date is not None
            and day < p.expiration_date
        ]
        if in_force:
            p, c = max(in_force, key=lambda pc: (pc[0].effective_date or EARLIEST, pc[1].id or 0))
            covered.append(
                Covered(
                    key,
                    coverage_name(key, req.label),
                    p,
                    c,
                    _origin(session, c),
                    _accepted(session, c, fmt, ws),
                )
            )
        else:
            covered.append(Covered(key, coverage_name(key, req.label), None, None, "", ""))
    applied = (
        list(session.exec(select(Waiver).where(col(Waiver.id).in_(verdict.waivers))).all())
        if verdict.waivers
        else []
    )
    return verdict, covered, applied


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)

    @api.get("/vendors/{vendor_id}/as-of")
    def as_of(
        request: Request,
        vendor_id: str,
        _who: SignedIn = Depends(compliance),
    ) -> Response:
        given = request.query_params.get("date", "").strip()
        if not vendor_id.isdigit() or len(vendor_id) > 12:
            raise PageError(404, f"There is no vendor {vendor_id[:40]!r}.")
        try:
            day = date.fromisoformat(given) if given else ws.today()
        except ValueError:
            raise PageError(
                422, f"The date {given[:40]!r} is not a date (write it as YYYY-MM-DD)."
            ) from None
        with ws.read() as session:
            vendor = session.get(Vendor, int(vendor_id))
            if vendor is None:
                raise PageError(404, f"There is no vendor {vendor_id}.")
            verdict, covered, applied = answer(ws, session, vendor, day)
        return render(
            ws,
            request,
            "as_of.html",
            title=f"{vendor.name} on {day.isoformat()}",
            vendor=vendor,
            day=day,
            verdict=verdict,
            covered=covered,
            applied=applied,
            asked_at=ws.now(),
        )

    return api
