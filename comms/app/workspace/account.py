"""`/account`: one's own per-staff API tokens for the staff JSON API (made here, the token shown
once; revoked here) and one's sign-in sessions with when each was last used. `/staff` (admins):
every account with its role and when it was last seen."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import func
from sqlmodel import col, select

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import PageError, check_csrf, require_staff
from comms.staff.api_tokens import TokenRefused, create_token, revoke_token, tokens_of
from comms.staff.models import Role, Staff, StaffSession
from comms.staff.sessions import SignedIn


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    anyone = require_staff(ws)
    admins = require_staff(ws, (Role.ADMIN,))

    def _page(request: Request, who: SignedIn, new_token: str = "", status: int = 200) -> Response:
        now = ws.now()
        with ws.read() as session:
            tokens = tokens_of(session, who.staff_id)
            sessions = session.exec(
                select(StaffSession)
                .where(
                    col(StaffSession.staff_id) == who.staff_id,
                    col(StaffSession.revoked_at).is_(None),
                    col(StaffSession.expires_at) > now,
                )
                .order_by(col(StaffSession.last_seen_at).desc())
                .limit(20)
            ).all()
        return render(
            ws,
            request,
            "account.html",
            status=status,
            title="Your account",
            tokens=tokens,
            sessions=sessions,
            new_token=new_token,
        )

    @api.get("/account")
    def account(request: Request, who: SignedIn = Depends(anyone)) -> Response:
        return _page(request, who)

    @api.post("/account/tokens")
    async def make_token(request: Request, who: SignedIn = Depends(anyone)) -> Response:
        await check_csrf(request, who)
        form = await request.form()
        label = form.get("label")

        def make() -> str:
            with ws.write() as session:
                raw, _row = create_token(
                    session,
                    who.staff_id,
                    label=label if isinstance(label, str) else "",
                    by=who.name,
                    now=ws.now(),
                )
                return raw

        try:
            raw = await asyncio.to_thread(make)
        except TokenRefused as exc:
            raise PageError(422, f"No token was made: {exc}.") from None
        return _page(request, who, new_token=raw, status=201)

    @api.post("/account/tokens/{token_id}/revoke")
    async def revoke(request: Request, token_id: str, who: SignedIn = Depends(anyone)) -> Response:
        await check_csrf(request, who)
        if not token_id.isdigit() or len(token_id) > 12:
            raise PageError(404, f"There is no token {token_id[:20]!r}.")

        def run() -> None:
            with ws.write() as session:
                revoke_token(
                    session, int(token_id), staff_id=who.staff_id, by=who.name, now=ws.now()
                )

        try:
            await asyncio.to_thread(run)
        except TokenRefused as exc:
            raise PageError(409 if "already" in str(exc) else 404, f"{exc}.") from None
        return RedirectResponse("/account", status_code=303)

    @api.get("/staff")
    def staff_page(request: Request, _who: SignedIn = Depends(admins)) -> Response:
        with ws.read() as session:
            seen = dict(
                session.exec(
                    select(StaffSession.staff_id, func.max(StaffSession.last_seen_at)).group_by(
                        col(StaffSession.staff_id)
                    )
                ).all()
            )
            people = session.exec(select(Staff).order_by(col(Staff.name))).all()
        rows = [(p, seen.get(p.id or 0)) for p in people]
        return render(ws, request, "staff.html", title="Staff", rows=rows)

    return api
