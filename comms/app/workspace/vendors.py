"""The vendor list, `/vendors`: search by the start of a name or email, a phone number or a
vendor ID (`comms.vendor_search`: each an index lookup or range, never a scan); filter by status,
profile, "expiring within" and "waiting for review"; paged.

Filters on the verdict (status, expiring within) read the stored verdicts `comms status`
reads (`vendor_verdict`, by its indexes); only the page's vendors' verdicts are read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from comms.app.workspace.context import Workspace
from comms.app.workspace.dashboard import current_verdicts, unreachable_vendors
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, require_staff
from comms.compliance import STATUS_ORDER, Verdict
from comms.models import Certificate, CertificateStatus, RequirementProfile, Vendor, VendorVerdict
from comms.staff.sessions import SignedIn
from comms.stored_verdicts import stored_for
from comms.vendor_search import search_condition
from comms.verdict_inputs import load_inputs

PAGE_SIZE = 25
MAX_QUERY = 200


@dataclass(frozen=True)
class Filters:
    q: str
    status: str
    profile: str
    expiring_within: int | None
    review: bool
    unreachable: bool = False
    region: str = "US"  # how a phone number without +country is read

    def query(self, **changes: Any) -> str:
        values = {
            "q": self.q,
            "status": self.status,
            "profile": self.profile,
            "expiring_within": self.expiring_within or "",
            "review": "1" if self.review else "",
            "unreachable": "1" if self.unreachable else "",
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@dataclass(frozen=True)
class Row:
    vendor: Vendor
    profile: str
    verdict: Verdict


def _sql_filters(session: Session, f: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [col(Vendor.active).is_(True)]
    if f.q:
        where.append(search_condition(f.q, region=f.region))
    if f.profile:
        profile_id = session.exec(
            select(RequirementProfile.id).where(RequirementProfile.name == f.profile)
        ).first()
        where.append(col(Vendor.profile_id) == (profile_id if profile_id is not None else -1))
    if f.review:
        waiting = select(Certificate.vendor_id).where(
            col(Certificate.status) == CertificateStatus.NEEDS_REVIEW.value
        )
        where.append(col(Vendor.id).in_(waiting))
    if f.unreachable:
        where.append(col(Vendor.id).in_(unreachable_vendors()))
    return where


def find(session: Session, f: Filters, today: date, page: int) -> tuple[list[Row], int]:
    """One page of vendors and the number of matches. The verdict filters (status, expiring
    within) read the stored verdicts through their indexes; the page's verdicts are the
    stored ones (computed afresh for a vendor whose stored verdict is not valid today)."""
    profiles = {p.id: p.name for p in session.exec(select(RequirementProfile)).all()}
    where = _sql_filters(session, f)
    query = select(Vendor)
    if f.status or f.expiring_within:
        query = query.join(VendorVerdict, col(VendorVerdict.vendor_id) == col(Vendor.id))
        if f.status:
            where.append(col(VendorVerdict.status) == f.status)
        if f.expiring_within:
            where.append(col(VendorVerdict.next_expiration) >= today)
            end = today + timedelta(days=f.expiring_within)
            where.append(col(VendorVerdict.next_expiration) <= end)
    total = session.exec(select(func.count()).select_from(query.where(*where).subquery())).one()
    vendors = session.exec(
        query.where(*where)
        .order_by(col(Vendor.name), col(Vendor.id))
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    verdicts = page_verdicts(session, list(vendors), today)
    rows = [Row(v, profiles.get(v.profile_id, "—"), verdicts[v.id or 0]) for v in vendors]
    return rows, int(total)


def page_verdicts(session: Session, vendors: list[Vendor], today: date) -> dict[int, Verdict]:
    """One page of vendors' verdicts: the stored ones, and, for a vendor whose stored verdict
    does not hold today, computed through the one loader of verdict inputs."""
    ids = [v.id for v in vendors if v.id is not None]
    out = stored_for(session, ids, today)
    for vendor_id, inputs in load_inputs(session, [i for i in ids if i not in out]).items():
        out[vendor_id] = inputs.verdict(today)
    return out


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)
    statuses = [s.value for s in STATUS_ORDER]

    @api.get("/vendors")
    def vendor_list(
        request: Request,
        _who: SignedIn = Depends(compliance),
        q: str = Query("", max_length=MAX_QUERY),
        status: str = Query("", max_length=32),
        profile: str = Query("", max_length=200),
        expiring_within: int | None = Query(None, ge=1, le=3660),
        review: bool = False,
        unreachable: bool = False,
        page: int = Query(1, ge=1, le=100_000),
    ) -> Response:
        if status and status not in statuses:
            raise PageError(422, f"Unknown status {status!r}: one of {', '.join(statuses)}.")
        f = Filters(
            q.strip(), status, profile, expiring_within, review, unreachable,
            ws.settings.default_region,
        )  # fmt: skip
        current_verdicts(ws)
        with ws.read() as session:
            rows, total = find(session, f, ws.today(), page)
            profile_names = sorted(session.exec(select(RequirementProfile.name)).all())
        pages = max(1, math.ceil(total / PAGE_SIZE))
        return render(
            ws,
            request,
            "vendors.html",
            title="Vendors",
            rows=rows,
            total=total,
            page=page,
            pages=pages,
            f=f,
            query=f.query,
            statuses=statuses,
            profiles=profile_names,
        )

    return api
