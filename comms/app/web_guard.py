"""Security headers on every response, and the API documentation for signed-in staff only.

Every response: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and CSP
`frame-ancestors 'none'` (no page of ours in someone else's frame), `Referrer-Policy`,
`Strict-Transport-Security` when `COMMS_PUBLIC_URL` is https, and `Cache-Control: no-store`
(API answers and staff pages carry phone numbers and addresses) except on `/static/`. HTML
pages get a content security policy that allows only this site's scripts and styles; the API
documentation page also loads Swagger UI from its CDN. uvicorn's `Server:` header is off
(`comms.app.http_protocol`).
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import sign_in_answer
from comms.app.workspace.security import signed_in

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {DOCS_CDN}; "
    f"style-src 'self' 'unsafe-inline' {DOCS_CDN}; "
    "img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
OTHER_CSP = "frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
DOCS = "/api/docs"
OPENAPI = "/api/openapi.json"


class SecurityHeaders:
    """ASGI middleware (streams, such as the server-sent events, pass through untouched)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.add(MutableHeaders(scope=message), path)
            await send(message)

        await self.app(scope, receive, with_headers)

    def add(self, headers: MutableHeaders, path: str) -> None:
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        if "content-security-policy" not in headers:
            html = headers.get("content-type", "").startswith("text/html")
            headers["Content-Security-Policy"] = (
                DOCS_CSP if path == DOCS else PAGE_CSP if html else OTHER_CSP
            )
        if self.https:
            headers["Strict-Transport-Security"] = HSTS
        if not path.startswith("/static/"):
            headers["Cache-Control"] = "no-store"
        if "server" in headers:
            del headers["server"]


def add_docs(app: FastAPI, ws: Workspace) -> None:
    """`/api/docs` and `/api/openapi.json`, for signed-in staff (create the app with
    `docs_url=None, openapi_url=None`)."""

    @app.get(OPENAPI, include_in_schema=False)
    def openapi(request: Request) -> Response:
        if signed_in(ws, request) is None:
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return JSONResponse(app.openapi())

    @app.get(DOCS, include_in_schema=False)
    def docs(request: Request) -> Response:
        if signed_in(ws, request) is None:
            return sign_in_answer(request)
        return get_swagger_ui_html(openapi_url=OPENAPI, title=f"{app.title} API")
