"""Waivers in the workspace: `/waivers` lists them all (the live ones about to expire at the
top), a vendor's page grants one (`POST /vendors/{id}/waivers`) and `POST /waivers/{id}/revoke`
ends one. Compliance staff grant waivers with an expiry date; only admins grant permanent ones.
A second, concurrent grant of the same waiver gets 409 and writes nothing."""

from __future__ import annotations

import asyncio
from datetime import date

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import COMPLIANCE, PageError, check_csrf, require_staff
from comms.staff.models import Role
from comms.staff.sessions import SignedIn
from comms.waivers import (
    WaiverConflict,
    WaiverRefused,
    grant_waiver,
    parse_choice,
    revoke_waiver,
    waiver_list,
)

SOON_DAYS = 30


def parse_id(value: str, what: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise PageError(404, f"There is no {what} {value[:40]!r}.")
    return int(value)


def parse_day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise PageError(
            422, f"The {field} {value[:40]!r} is not a date (write it as YYYY-MM-DD)."
        ) from None


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)

    @api.get("/waivers")
    def waivers_page(request: Request, _who: SignedIn = Depends(compliance)) -> Response:
        today = ws.today()
        with ws.read() as session:
            rows = waiver_list(session, today=today)
        return render(
            ws,
            request,
            "waivers.html",
            title="Waivers",
            rows=rows,
            today=today,
            soon=SOON_DAYS,
            live_count=sum(1 for _w, _n, live in rows if live),
        )

    def _grant(vendor_id: int, who: SignedIn, form: dict[str, str]) -> int:
        code, coverage, limit = parse_choice(form.get("requirement", ""))
        permanent = form.get("permanent") == "yes"
        expires: date | None = None
        if not permanent:
            given = form.get("expires_on", "")
            if not given.strip():
                raise WaiverRefused("give an expiry date, or choose permanent (admins only)")
            expires = parse_day(given, "expiry date")
        with ws.write() as session:
            waiver = grant_waiver(
                session,
                vendor_id=vendor_id,
                code=code,
                coverage=coverage,
                limit=limit,
                reason=form.get("reason", ""),
                by=who.name,
                admin=who.role == Role.ADMIN.value,
                expires_on=expires,
                now=ws.now(),
                zone=ws.settings.zone,
            )
            return waiver.id or 0

    @api.post("/vendors/{vendor_id}/waivers")
    async def grant(
        request: Request, vendor_id: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        await check_csrf(request, who)
        vid = parse_id(vendor_id, "vendor")
        raw = await request.form()
        form = {k: v for k, v in raw.items() if isinstance(v, str)}
        try:
            await asyncio.to_thread(_grant, vid, who, form)
        except WaiverConflict as exc:
            raise PageError(409, f"Nothing was changed: {exc}.", title="Already waived") from None
        except WaiverRefused as exc:
            status = 403 if "admin" in str(exc) else 422
            raise PageError(status, f"The waiver was not granted: {exc}.") from None
        ws.hub.publish("dashboard", {})
        ws.hub.publish("vendor", {"vendor": vid, "by": who.name})
        return RedirectResponse(f"/vendors/{vid}#waivers", status_code=303)

    def _revoke(waiver_id: int, who: SignedIn) -> int:
        with ws.write() as session:
            waiver = revoke_waiver(
                session, waiver_id, by=who.name, now=ws.now(), zone=ws.settings.zone
            )
            return waiver.vendor_id

    @api.post("/waivers/{waiver_id}/revoke")
    async def revoke(
        request: Request, waiver_id: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        await check_csrf(request, who)
        wid = parse_id(waiver_id, "waiver")
        try:
            vid = await asyncio.to_thread(_revoke, wid, who)
        except WaiverConflict as exc:
            raise PageError(409, f"Nothing was changed: {exc}.", title="Already revoked") from None
        except WaiverRefused as exc:
            raise PageError(404, f"{exc}.") from None
        ws.hub.publish("dashboard", {})
        ws.hub.publish("vendor", {"vendor": vid, "by": who.name})
        back = request.headers.get("referer", "")
        target = "/waivers" if back.endswith("/waivers") else f"/vendors/{vid}#waivers"
        return RedirectResponse(target, status_code=303)

    return api
