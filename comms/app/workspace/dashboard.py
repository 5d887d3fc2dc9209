"""The dashboard, `/`: the numbers of `comms status --json` (the same code) plus what waits
for staff. Each number links to the vendor list filtered to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from comms.app.workspace import inbound_mail
from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, require_staff
from comms.compliance import STATUS_ORDER
from comms.models import Certificate, CertificateStatus
from comms.staff.models import Role
from comms.staff.sessions import SignedIn
from comms.verdicts import all_verdicts, status_report

EXPIRING_DAYS = 30


@dataclass(frozen=True)
class Numbers:
    as_of: date
    counts: dict[str, int]
    total: int
    score: float | None  # share compliant, counting expiring; None with no vendors
    expiring_soon: int
    needs_review: int
    unmatched_mail: int


def expiring_within(next_expiration: date | None, today: date, days: int) -> bool:
    return next_expiration is not None and today <= next_expiration <= today + timedelta(days=days)


def numbers(session: Session, today: date) -> Numbers:
    statuses = all_verdicts(session, today)  # what `comms status` reads
    report = status_report(statuses, today)
    counts: dict[str, int] = report["counts"]
    total = sum(counts.values())
    good = counts["compliant"] + counts["expiring"]
    soon = sum(
        1 for s in statuses if expiring_within(s.verdict.next_expiration, today, EXPIRING_DAYS)
    )
    review = session.exec(
        select(func.count())
        .select_from(Certificate)
        .where(col(Certificate.status) == CertificateStatus.NEEDS_REVIEW.value)
    ).one()
    unmatched = inbound_mail.count(session, inbound_mail.on_review_list())
    return Numbers(
        as_of=today,
        counts=counts,
        total=total,
        score=good / total if total else None,
        expiring_soon=soon,
        needs_review=int(review),
        unmatched_mail=int(unmatched),
    )


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    anyone = require_staff(ws)
    compliance = require_staff(ws, COMPLIANCE)

    @api.get("/")
    def dashboard(request: Request, who: SignedIn = Depends(anyone)) -> Response:
        if who.role == Role.CALLER.value:
            return render(ws, request, "caller_home.html", title="Home")
        if who.role not in {r.value for r in COMPLIANCE}:
            raise PageError(403, "Your role has no pages yet.")
        with ws.read() as session:
            data = numbers(session, ws.today())
        return render(
            ws,
            request,
            "dashboard.html",
            title="Dashboard",
            n=data,
            statuses=[s.value for s in STATUS_ORDER],
            expiring_days=EXPIRING_DAYS,
        )

    @api.get("/dashboard/numbers")
    def dashboard_numbers(request: Request, _who: SignedIn = Depends(compliance)) -> Response:
        """The numbers alone, for the live refresh (htmx)."""
        with ws.read() as session:
            data = numbers(session, ws.today())
        return render(
            ws,
            request,
            "_numbers.html",
            n=data,
            statuses=[s.value for s in STATUS_ORDER],
            expiring_days=EXPIRING_DAYS,
        )

    return api
