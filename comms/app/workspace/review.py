"""The review desk, `/review`: certificates held as `needs_review`, oldest first. One
certificate's screen shows its first page beside the extracted fields with their confidence
(the doubtful ones marked); staff accept it, or reject it with a reason. Keys: j/k next and
previous, a accept, r reject, ? help (`templates/web/static/review.js`)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, check_csrf, require_staff
from comms.models import Certificate, CertificateStatus, Vendor
from comms.models.audit import audit
from comms.staff.sessions import SignedIn
from comms.verdicts import vendor_verdict
from inbound.acord25.schema import DOUBT_THRESHOLD
from inbound.certificates import ReviewError, review_certificate

LIST_SIZE = 50
MAX_REASON = 500
HELD = CertificateStatus.NEEDS_REVIEW.value
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Field:
    path: str
    value: str
    confidence: float
    doubtful: bool


def lookup(data: Any, path: str) -> Any:
    """`policies[0].policy_number` or `insured.name` in the extraction; None when absent."""
    value = data
    for name, index in _STEP.findall(path):
        if index:
            value = (
                value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
            )
        else:
            value = value.get(name) if isinstance(value, dict) else None
        if value is None:
            return None
    return value


def fields_of(cert: Certificate) -> list[Field]:
    extraction = cert.extraction or {}
    confidence = extraction.get("confidence") or {}
    doubtful = set(cert.doubtful_fields or [])
    out = []
    for path in sorted(confidence, key=lambda p: (p not in doubtful, p)):
        try:
            score = float(confidence[path])
        except (TypeError, ValueError):
            continue
        value = lookup(extraction, path)
        shown = "—" if value is None else str(value)
        out.append(Field(path, shown[:300], score, path in doubtful or score < DOUBT_THRESHOLD))
    for path in sorted(doubtful - set(confidence)):  # named doubtful without a score
        value = lookup(extraction, path)
        out.insert(0, Field(path, "—" if value is None else str(value)[:300], 0.0, True))
    return out


def held_ids(session: Session) -> list[int]:
    """The held certificates, oldest first (ids only; the desk pages through them)."""
    rows = session.exec(
        select(Certificate.id)
        .where(col(Certificate.status) == HELD)
        .order_by(col(Certificate.received_at), col(Certificate.id))
        .limit(1000)
    ).all()
    return [r for r in rows if r is not None]


def _neighbours(ids: list[int], current: int) -> tuple[int | None, int | None]:
    if current not in ids:
        return None, (ids[0] if ids else None)
    i = ids.index(current)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)

    @api.get("/review")
    def review_list(request: Request, _who: SignedIn = Depends(compliance)) -> Response:
        with ws.read() as session:
            total = session.exec(
                select(func.count()).select_from(Certificate).where(col(Certificate.status) == HELD)
            ).one()
            rows = session.exec(
                select(Certificate, Vendor.name)
                .join(Vendor, col(Vendor.id) == col(Certificate.vendor_id))
                .where(col(Certificate.status) == HELD)
                .order_by(col(Certificate.received_at), col(Certificate.id))
                .limit(LIST_SIZE)
            ).all()
        return render(
            ws, request, "review_list.html", title="Review desk", rows=rows, total=int(total)
        )

    def _certificate(session: Session, certificate_id: str) -> Certificate:
        if not certificate_id.isdigit() or len(certificate_id) > 12:
            raise PageError(404, f"There is no certificate {certificate_id[:40]!r}.")
        cert = session.get(Certificate, int(certificate_id))
        if cert is None:
            raise PageError(404, f"There is no certificate {certificate_id}.")
        return cert

    @api.get("/review/{certificate_id}")
    def review_one(
        request: Request, certificate_id: str, _who: SignedIn = Depends(compliance)
    ) -> Response:
        with ws.read() as session:
            cert = _certificate(session, certificate_id)
            vendor = session.get(Vendor, cert.vendor_id)
            assert vendor is not None and cert.id is not None
            verdict = vendor_verdict(session, vendor, ws.today())
            previous, following = _neighbours(held_ids(session), cert.id)
        return render(
            ws,
            request,
            "review.html",
            title=f"Review certificate {cert.id}",
            cert=cert,
            vendor=vendor,
            verdict=verdict,
            fields=fields_of(cert),
            previous=previous,
            following=following,
            held=cert.status == HELD,
            max_reason=MAX_REASON,
            reasons=list((cert.extraction or {}).get("review_reasons") or []),
        )

    def _record(
        certificate_id: str, who: SignedIn, accept: bool, reason: str, now: datetime
    ) -> int | None:
        """The decision, its audit entry and the verdict recomputed (in a worker thread);
        returns the next held certificate."""
        with ws.write() as session:
            cert = _certificate(session, certificate_id)
            assert cert.id is not None
            try:
                review_certificate(
                    session, cert.id, accept=accept, by=who.name, now=now, note=reason
                )
            except ReviewError as exc:
                raise PageError(
                    409, f"Nothing was changed: {exc}.", title="Already decided"
                ) from None
            audit(
                session,
                action="workspace.review",
                entity="certificate",
                entity_id=cert.id,
                actor=who.name,
                at=now,
                data={
                    "before": {"status": HELD},
                    "after": {"status": cert.status, "reason": reason},
                },
            )
            session.commit()
            return _neighbours(held_ids(session), cert.id)[1]

    async def _decide(
        request: Request, certificate_id: str, who: SignedIn, accept: bool
    ) -> Response:
        await check_csrf(request, who)
        reason = ""
        if not accept:
            form = await request.form()
            given = form.get("reason")
            reason = given.strip() if isinstance(given, str) else ""
            if not reason:
                raise PageError(
                    422, "A rejection needs a reason (it tells the sender what is wrong)."
                )
            if len(reason) > MAX_REASON:
                raise PageError(422, f"A reason has at most {MAX_REASON} characters.")
        following = await asyncio.to_thread(_record, certificate_id, who, accept, reason, ws.now())
        ws.hub.publish("review", {"certificate": int(certificate_id), "by": who.name})
        ws.hub.publish("dashboard", {})
        target = f"/review/{following}" if following else "/review"
        return RedirectResponse(target, status_code=303)

    @api.post("/review/{certificate_id}/accept")
    async def accept(
        request: Request, certificate_id: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        return await _decide(request, certificate_id, who, True)

    @api.post("/review/{certificate_id}/reject")
    async def reject(
        request: Request, certificate_id: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        return await _decide(request, certificate_id, who, False)

    return api
