"""Signed cookies, who is signed in, roles and CSRF checks for the workspace's pages.

The session cookie is `TOKEN.SIGNATURE` (HMAC-SHA256 with the service's signing key); the
server keeps only the token's sha256 (`comms.staff.sessions`). A cookie whose signature does
not match is not looked up at all."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable

from fastapi import Request
from sqlmodel import Session

from comms.app.workspace.context import Workspace
from comms.errors import PermanentError
from comms.staff.models import Role
from comms.staff.sessions import SEEN_EVERY, SignedIn, find_session, note_seen

SESSION_COOKIE = "comms_session"
LOGIN_COOKIE = "comms_login"  # the sign-in form's CSRF nonce, before there is a session
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_COOKIE = 200


class PageError(PermanentError):
    """An answer other than the page: a status and a sentence, shown on a readable page."""

    code = "page_refused"

    def __init__(self, status: int, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title


class SignInRequired(PermanentError):
    """No live session: pages redirect to /login, API and htmx requests get 401."""

    code = "sign_in_required"


def _mac(key: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(key: bytes, purpose: str, value: str) -> str:
    return f"{value}.{_mac(key, purpose, value)}"


def unsign(key: bytes, purpose: str, cookie: str | None) -> str | None:
    """The value of a signed cookie, or None when it is missing, too long or tampered with."""
    if not cookie or len(cookie) > MAX_COOKIE or "." not in cookie:
        return None
    value, _, mac = cookie.rpartition(".")
    if not value or not hmac.compare_digest(mac.encode(), _mac(key, purpose, value).encode()):
        return None
    return value


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def signed_in(ws: Workspace, request: Request, session: Session | None = None) -> SignedIn | None:
    """Who the session cookie belongs to, looked up in `session` when given (a page that
    reads anyway makes one round of the pool, not two), else in a session of its own."""
    token = unsign(ws.key, "session", request.cookies.get(SESSION_COOKIE))
    if token is None:
        return None
    now = ws.now()
    if session is not None:
        who = find_session(session, token, now=now)
    else:
        with ws.read() as own:
            who = find_session(own, token, now=now)
    if who is not None and (who.last_seen_at is None or now - who.last_seen_at >= SEEN_EVERY):
        if session is not None:
            session.rollback()  # holds no lock while the write below waits for one
        with ws.write() as writing:
            note_seen(writing, who, now=now)
    return who


def require_staff(
    ws: Workspace, roles: Iterable[Role] | None = None
) -> Callable[[Request], SignedIn]:
    """A dependency: the signed-in staff member, or SignInRequired; 403 outside `roles`."""
    allowed = {r.value for r in roles} if roles is not None else None

    def dependency(request: Request) -> SignedIn:
        return staff_in(ws, request, allowed)

    return dependency


def staff_in(
    ws: Workspace, request: Request, allowed: set[str] | None, session: Session | None = None
) -> SignedIn:
    """`require_staff`'s check, for a handler that looks the session up in its own database
    session: the signed-in staff member, or SignInRequired; 403 outside `allowed` roles."""
    who = signed_in(ws, request, session)
    if who is None:
        raise SignInRequired()
    request.state.staff = who
    if allowed is not None and who.role not in allowed:
        raise PageError(
            403,
            f"This page is for {' or '.join(sorted(allowed))} staff; you are signed in as "
            f"{who.name} ({who.role}).",
            title="Not allowed",
        )
    return who


def csrf_matches(who: SignedIn, given: str | None) -> None:
    """`check_csrf` for a form already read."""
    if not given or not hmac.compare_digest(given.encode(), who.csrf_token.encode()):
        raise PageError(
            403,
            "This form has expired or did not come from this site (its security token is "
            "missing or wrong). Go back, reload the page and try again.",
            title="Form refused",
        )


async def check_csrf(request: Request, who: SignedIn) -> None:
    """Every POST carries the session's CSRF token, as a form field or the htmx header."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    csrf_matches(who, given)


COMPLIANCE = (Role.COMPLIANCE, Role.ADMIN)
