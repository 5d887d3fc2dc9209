"""Rendering: the Jinja2 environment for `templates/web/`, the page route class that turns
every failure into a readable page (never a traceback) and the navigation by role."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from comms.app.workspace.context import Workspace
from comms.app.workspace.security import CSRF_FIELD, PageError, SignInRequired
from comms.coverage import coverage_name, limit_name, money
from comms.staff.sessions import SignedIn
from comms.waivers import describe

log = logging.getLogger(__name__)

# what each role sees in the navigation (the server checks the role again on every page)
NAV: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("/", "Dashboard", frozenset({"compliance", "admin"})),
    ("/vendors", "Vendors", frozenset({"compliance", "admin"})),
    ("/review", "Review", frozenset({"compliance", "admin"})),
    ("/inbound", "Unmatched mail", frozenset({"compliance", "admin"})),
    ("/waivers", "Waivers", frozenset({"compliance", "admin"})),
    ("/staff", "Staff", frozenset({"admin"})),
    ("/outbox", "Outbox", frozenset({"compliance", "admin"})),
    ("/calls", "Call desk", frozenset({"caller", "admin"})),
)

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def environment(folder: Path, zone: ZoneInfo) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
        return value.astimezone(zone).strftime(fmt) if value is not None else "—"

    def day(value: date | None) -> str:
        return value.isoformat() if value is not None else "—"

    env.filters["local"] = local
    env.filters["day"] = day
    env.filters["money"] = lambda v: money(v) if v is not None else "—"
    env.filters["coverage"] = lambda v, label=None: coverage_name(v, label)
    env.filters["limit"] = limit_name
    env.filters["words"] = lambda v: str(v).replace("_", " ")
    env.globals["describe"] = describe
    return env


def render(
    ws: Workspace, request: Request, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    who: SignedIn | None = getattr(request.state, "staff", None)
    nav = [(href, label) for href, label, roles in NAV if who is not None and who.role in roles]
    html = ws.templates.get_template(template).render(
        request_path=request.url.path,
        who=who,
        nav=nav,
        csrf_field=CSRF_FIELD,
        organization=ws.settings.organization_name,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def wants_page(request: Request) -> bool:
    """A browser navigating (a page), not htmx, an EventSource or an API client."""
    if request.headers.get("hx-request") or request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "text/html")


def sign_in_answer(request: Request) -> Response:
    if wants_page(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    return PlainTextResponse(
        "sign in first", status_code=401, headers={"HX-Redirect": "/login", **HEADERS}
    )


def error_page(ws: Workspace, request: Request, status: int, message: str, title: str) -> Response:
    return render(ws, request, "error.html", status=status, title=title, message=message)


TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    422: "Not understood",
    429: "Too many attempts",
}


def page_route(ws: Workspace) -> type[APIRoute]:
    class PageRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except SignInRequired:
                    return sign_in_answer(request)
                except PageError as exc:
                    title = exc.title or TITLES.get(exc.status, "Error")
                    return error_page(ws, request, exc.status, exc.message, title)
                except RequestValidationError as exc:
                    fields = ", ".join(str(e.get("loc", ["?"])[-1]) for e in exc.errors())
                    return error_page(
                        ws,
                        request,
                        422,
                        f"Some values were not understood: {fields}.",
                        TITLES[422],
                    )
                except HTTPException as exc:
                    status = exc.status_code
                    return error_page(
                        ws, request, status, str(exc.detail), TITLES.get(status, "Error")
                    )
                except Exception:
                    ref = uuid.uuid4().hex[:8]
                    log.exception("workspace page %s failed (reference %s)", request.url.path, ref)
                    return error_page(
                        ws,
                        request,
                        500,
                        f"Something went wrong on our side. It is logged with reference {ref}.",
                        "Error",
                    )

            return guarded

    return PageRoute
