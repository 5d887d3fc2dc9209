"""The review desk, `/review`: certificates held as `needs_review`, oldest first. One
certificate's screen shows its first page beside the extracted fields with their confidence
(the doubtful ones marked) and the requirement checklist with the certificate counted (pass or
fail per line); staff correct a field (the checklist follows at once), approve a failed line
(a waiver), accept, or reject with a reason that is emailed to the sender in their thread.
Who else has the certificate open is shown live. A decision is taken once: a second,
concurrent one gets 409 and writes nothing. Keys: j/k next and previous, a accept, r reject,
e edit a field, ? help (`templates/web/static/review.js`)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from comms.app.workspace import presence
from comms.app.workspace.checklist import checklist, verdict_with
from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, check_csrf, require_staff
from comms.models import Certificate, CertificateStatus, Vendor
from comms.models.audit import audit
from comms.staff.sessions import SignedIn
from comms.stored_verdicts import verdict_on
from comms.waivers import WaiverConflict, WaiverRefused, grant_waiver, parse_choice
from inbound.acord25.schema import DOUBT_THRESHOLD
from inbound.certificates import ReviewError, review_certificate
from inbound.corrections import CorrectionRefused, correct_field
from inbound.rejection import queue_rejection_notice

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
            verdict = verdict_on(session, cert.vendor_id, ws.today())
            with_it = verdict_with(session, vendor, cert, ws.today())
            lines = checklist(session, vendor, cert, with_it)
            previous, following = _neighbours(held_ids(session), cert.id)
        now = ws.now()
        if cert.status == HELD:
            ws.hub.publish(
                presence.KIND, {"certificate": cert.id, "by": _who.name, "at": now.isoformat()}
            )
        return render(
            ws,
            request,
            "review.html",
            title=f"Review certificate {cert.id}",
            cert=cert,
            vendor=vendor,
            verdict=verdict,
            with_it=with_it,
            lines=lines,
            viewers=ws.presence.viewers(cert.id, now=now, besides=_who.name),
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
            # take the row first: of two concurrent decisions the second finds it decided
            taken = session.execute(
                update(Certificate)
                .where(col(Certificate.id) == cert.id, col(Certificate.status) == HELD)
                .values(status=HELD)
            )
            if getattr(taken, "rowcount", 1) != 1:
                session.rollback()
                raise PageError(
                    409,
                    "Nothing was changed: someone else decided it first.",
                    title="Already decided",
                )
            session.refresh(cert)
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
            notice = None
            if not accept:
                notice = queue_rejection_notice(
                    session,
                    cert,
                    reason=reason,
                    by=who.name,
                    verdict=verdict_on(session, cert.vendor_id, ws.today()),
                    now=now,
                    settings=ws.settings,
                )
            session.commit()
            if notice is not None and notice.id is not None and notice.status == "queued":
                ws.enqueue(notice.id, now)
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

    def _correct(certificate_id: str, who: SignedIn, path: str, text: str) -> None:
        with ws.write() as session:
            cert = _certificate(session, certificate_id)
            assert cert.id is not None
            try:
                correct_field(session, cert.id, path=path, text=text, by=who.name, now=ws.now())
            except CorrectionRefused as exc:
                raise PageError(422, f"The field was not changed: {exc}.") from None
            session.commit()

    @api.post("/review/{certificate_id}/field")
    async def correct(
        request: Request, certificate_id: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        await check_csrf(request, who)
        form = await request.form()
        path, text = form.get("path"), form.get("value")
        if not isinstance(path, str) or not isinstance(text, str):
            raise PageError(422, "Give the field and its corrected value.")
        await asyncio.to_thread(_correct, certificate_id, who, path.strip(), text)
        ws.hub.publish("review", {"certificate": int(certificate_id), "by": who.name})
        return RedirectResponse(f"/review/{certificate_id}#checklist", status_code=303)

    def _approve(certificate_id: str, who: SignedIn, form: dict[str, str]) -> None:
        with ws.write() as session:
            cert = _certificate(session, certificate_id)
            code, coverage, limit = parse_choice(form.get("requirement", ""))
            until = form.get("expires_on", "").strip()
            try:
                expires = date.fromisoformat(until)
            except ValueError:
                raise PageError(422, f"The expiry date {until[:40]!r} is not a date.") from None
            note = form.get("reason", "").strip()
            grant_waiver(
                session,
                vendor_id=cert.vendor_id,
                code=code,
                coverage=coverage,
                limit=limit,
                reason=f"approved on review of certificate {cert.id}"
                + (f": {note}" if note else ""),
                by=who.name,
                admin=who.role == "admin",
                expires_on=expires,
                now=ws.now(),
                zone=ws.settings.zone,
            )

    @api.post("/review/{certificate_id}/approve")
    async def approve_rule(
        request: Request, certificate_id: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        """Approving one failed line of the checklist is a waiver of that requirement."""
        await check_csrf(request, who)
        raw = await request.form()
        form = {k: v for k, v in raw.items() if isinstance(v, str)}
        try:
            await asyncio.to_thread(_approve, certificate_id, who, form)
        except WaiverConflict as exc:
            raise PageError(409, f"Nothing was changed: {exc}.", title="Already waived") from None
        except WaiverRefused as exc:
            raise PageError(422, f"The line was not approved: {exc}.") from None
        ws.hub.publish("review", {"certificate": int(certificate_id), "by": who.name})
        ws.hub.publish("dashboard", {})
        return RedirectResponse(f"/review/{certificate_id}#checklist", status_code=303)

    @api.get("/review/{certificate_id}/viewers")
    def viewers(
        request: Request, certificate_id: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        """Who else has it open (htmx refreshes this on every review event)."""
        cid = int(certificate_id) if certificate_id.isdigit() and len(certificate_id) < 12 else 0
        names = ws.presence.viewers(cid, now=ws.now(), besides=who.name)
        return render(ws, request, "_viewers.html", viewers=names, cert_id=cid)

    return api
