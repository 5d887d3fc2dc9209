"""`GET/POST /login` and `POST /logout`."""

from __future__ import annotations

import asyncio
import hmac
from datetime import datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route, render
from comms.app.workspace.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    PageError,
    check_csrf,
    client_address,
    new_nonce,
    require_staff,
    sign,
    signed_in,
    unsign,
)
from comms.models.audit import audit
from comms.staff.accounts import find_staff
from comms.staff.passwords import verify_password
from comms.staff.sessions import SignedIn, open_session, revoke

WRONG = "That name and password do not match an active account."


def _safe_next(value: object) -> str:
    """Only a path on this site (never `//host` or a scheme) is followed after sign-in."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value[:500]
    return "/"


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    key = ws.key
    staff = require_staff(ws)

    def login_form(
        request: Request,
        *,
        status: int = 200,
        error: str | None = None,
        name: str = "",
        next_path: str = "/",
    ) -> Response:
        nonce = unsign(key, "login", request.cookies.get(LOGIN_COOKIE)) or new_nonce()
        response = render(
            ws,
            request,
            "login.html",
            status=status,
            error=error,
            name=name,
            next_path=next_path,
            login_csrf=nonce,
            title="Sign in",
        )
        response.set_cookie(
            LOGIN_COOKIE,
            sign(key, "login", nonce),
            max_age=3600,
            httponly=True,
            samesite="lax",
            secure=ws.secure_cookies,
        )
        return response

    def attempt(name: str, password: str, address: str, now: datetime) -> str | None:
        """Check the password (Argon2: tens of milliseconds, so off the event loop) and open a
        session; None when refused. Both outcomes are audited."""
        with ws.write() as session:
            account = find_staff(session, name) if name else None
            ok = verify_password(account.password_hash if account else None, password)
            if account is None or not ok or account.disabled:
                ws.limiter.failed(name, address, now)
                audit(
                    session,
                    action="staff.sign_in_failed",
                    entity="staff",
                    entity_id=account.id if account else None,
                    actor=name or "(blank)",
                    at=now,
                    data={"before": None, "after": None, "address": address},
                )
                session.commit()
                return None
            ws.limiter.succeeded(name)
            token, row = open_session(
                session, account, now=now, lifetime=ws.session_lifetime, address=address
            )
            audit(
                session,
                action="staff.sign_in",
                entity="staff",
                entity_id=account.id,
                actor=account.name,
                at=now,
                data={"before": None, "after": {"session": row.id}, "address": address},
            )
            session.commit()
            return token

    @api.get("/login")
    def login_page(request: Request, next: str = "/") -> Response:
        if signed_in(ws, request) is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        return login_form(request, next_path=_safe_next(next))

    @api.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        nonce = unsign(key, "login", request.cookies.get(LOGIN_COOKIE))
        given = form.get("csrf")
        if (
            nonce is None
            or not isinstance(given, str)
            or not hmac.compare_digest(given.encode(), nonce.encode())
        ):
            raise PageError(
                403,
                "This sign-in form has expired or did not come from this site. "
                "Reload the sign-in page and try again.",
                title="Form refused",
            )
        name = form.get("name")
        password = form.get("password")
        name = name.strip()[:64] if isinstance(name, str) else ""
        password = password if isinstance(password, str) else ""
        next_path = _safe_next(form.get("next"))
        now, address = ws.now(), client_address(request)
        wait = ws.limiter.retry_after(name, address, now)
        if wait is not None:
            response = render(
                ws,
                request,
                "error.html",
                status=429,
                title="Too many attempts",
                message=f"Too many failed sign-ins. Try again in {max(1, wait // 60)} minute(s).",
            )
            response.headers["Retry-After"] = str(wait)
            return response
        token = await asyncio.to_thread(attempt, name, password, address, now)
        if token is None:
            return login_form(request, status=401, error=WRONG, name=name, next_path=next_path)
        redirect = RedirectResponse(next_path, status_code=303)
        redirect.set_cookie(
            SESSION_COOKIE,
            sign(key, "session", token),
            max_age=int(ws.session_lifetime.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=ws.secure_cookies,
            path="/",
        )
        redirect.delete_cookie(LOGIN_COOKIE)
        return redirect

    @api.post("/logout")
    async def logout(request: Request) -> Response:
        who: SignedIn = staff(request)
        await check_csrf(request, who)
        now = ws.now()
        with ws.write() as session:
            revoke(session, who.session_id, now=now)
            audit(
                session,
                action="staff.sign_out",
                entity="staff",
                entity_id=who.staff_id,
                actor=who.name,
                at=now,
                data={"before": {"session": who.session_id}, "after": None},
            )
            session.commit()
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return api
