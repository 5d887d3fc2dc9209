"""The dashboard, `/`: the numbers of `comms status --json` (the same code) plus what waits
for staff, a breakdown by requirement profile and a 90-day trend. Each number links to the
vendor list filtered to it.

The data comes from small query functions (`numbers`, `by_profile`, `trend`), so that their
source can change (stored verdicts, the verdict history) without touching the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from comms.app.workspace import inbound_mail
from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, require_staff
from comms.compliance import STATUS_ORDER
from comms.models import OPEN_STATES, Case, Certificate, CertificateStatus, RequirementProfile
from comms.staff.models import Role
from comms.staff.sessions import SignedIn
from comms.stored_verdicts import counts as stored_counts
from comms.stored_verdicts import (
    counts_by_profile,
    counts_history,
    expiring_count,
    needs_roll,
    roll,
)

EXPIRING_DAYS = 30
TREND_DAYS = 91  # 13 weeks back: the last 90 days and the day before
TREND_STEP = 7  # one point a week (14 points); each point is a verdict of every vendor


@dataclass(frozen=True)
class Numbers:
    as_of: date
    counts: dict[str, int]
    total: int
    score: float | None  # share compliant, counting expiring; None with no vendors
    expiring_soon: int
    needs_review: int
    unmatched_mail: int
    unreachable: int
    profiles: list[ProfileCounts]


@dataclass(frozen=True)
class ProfileCounts:
    name: str  # "" for vendors without a profile
    counts: dict[str, int]
    total: int


@dataclass(frozen=True)
class TrendPoint:
    day: date
    good: int  # compliant or expiring
    total: int

    @property
    def score(self) -> float | None:
        return self.good / self.total if self.total else None


def expiring_within(next_expiration: date | None, today: date, days: int) -> bool:
    return next_expiration is not None and today <= next_expiration <= today + timedelta(days=days)


def unreachable_vendors() -> SelectOfScalar[int]:
    """Vendors with an open case that found no one to reach (`unreachable` on the case)."""
    return select(Case.vendor_id).where(
        col(Case.state).in_(OPEN_STATES), Case.data["unreachable"].as_string().is_not(None)
    )


def by_profile(session: Session) -> list[ProfileCounts]:
    """Counts by profile and status, from the stored verdicts' counts (`verdict_count`)."""
    names = {p.id: p.name for p in session.exec(select(RequirementProfile)).all()}
    table: dict[str, dict[str, int]] = {}
    for profile_key, counts in counts_by_profile(session).items():
        name = names.get(profile_key, "") if profile_key else ""
        row = table.setdefault(name, {s.value: 0 for s in STATUS_ORDER})
        for status, n in counts.items():
            row[status] += n
    return [
        ProfileCounts(name, counts, sum(counts.values()))
        for name, counts in sorted(table.items(), key=lambda kv: (kv[0] == "", kv[0]))
        if sum(counts.values())
    ]


def trend(session: Session, today: date) -> list[TrendPoint]:
    """The share of vendors compliant (counting expiring) a week apart over the last 90 days,
    as the stored verdicts stood each day (the verdict history, `counts_history`)."""
    days = [
        today - timedelta(days=back)
        for back in range(TREND_DAYS // TREND_STEP * TREND_STEP, -1, -TREND_STEP)
    ]
    history = counts_history(session, days)
    return [
        TrendPoint(
            day,
            history[day]["compliant"] + history[day]["expiring"],
            sum(history[day].values()),
        )
        for day in days
    ]


def current_verdicts(ws: Workspace) -> None:
    """The daily roll, when the scheduler has not run it yet today (a read-only index probe
    when it has)."""
    today = ws.today()
    with ws.read() as session:
        due = needs_roll(session, today)
    if due:
        with ws.write() as session:
            roll(session, day=today, now=ws.now())
            session.commit()


def numbers(session: Session, today: date) -> Numbers:
    counts = stored_counts(session)  # the stored verdicts `comms status` reads
    total = sum(counts.values())
    good = counts["compliant"] + counts["expiring"]
    soon = expiring_count(session, today, EXPIRING_DAYS)
    review = session.exec(
        select(func.count())
        .select_from(Certificate)
        .where(col(Certificate.status) == CertificateStatus.NEEDS_REVIEW.value)
    ).one()
    unmatched = inbound_mail.count(session, inbound_mail.on_review_list())
    unreachable = session.exec(
        select(func.count()).select_from(unreachable_vendors().distinct().subquery())
    ).one()
    return Numbers(
        as_of=today,
        counts=counts,
        total=total,
        score=good / total if total else None,
        expiring_soon=soon,
        needs_review=int(review),
        unmatched_mail=int(unmatched),
        unreachable=int(unreachable),
        profiles=by_profile(session),
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
        current_verdicts(ws)
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

    @api.get("/dashboard/trend")
    def dashboard_trend(request: Request, _who: SignedIn = Depends(compliance)) -> Response:
        """The 90-day trend: loaded after the page (htmx), or a page of its own."""
        current_verdicts(ws)
        with ws.read() as session:
            points = trend(session, ws.today())
        template = "_trend.html" if request.headers.get("hx-request") else "trend.html"
        return render(ws, request, template, title="90-day trend", points=points)

    @api.get("/dashboard/numbers")
    def dashboard_numbers(request: Request, _who: SignedIn = Depends(compliance)) -> Response:
        """The numbers alone, for the live refresh (htmx)."""
        current_verdicts(ws)
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
