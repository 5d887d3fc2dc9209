"""Who calls the staff JSON API: a signed-in workspace session (unsafe methods then carry the
session's CSRF token in `X-CSRF-Token`) or a per-staff API token (`Authorization: Bearer
coi_…`, made on `/account`). None: neither; the API then tries `COMMS_STAFF_TOKENS`."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import HTTPException, Request

from comms.app.workspace.context import Workspace
from comms.app.workspace.security import CSRF_HEADER, signed_in
from comms.staff.api_tokens import PREFIX, staff_for_token

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def api_authenticator(ws: Workspace) -> Callable[[Request], str | None]:
    def authenticate(request: Request) -> str | None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        raw = credentials.strip()
        if scheme.lower() == "bearer" and raw.startswith(PREFIX):
            with ws.write() as session:
                staff = staff_for_token(session, raw, now=ws.now())
            if staff is None:
                raise HTTPException(
                    401, "unknown or revoked API token", {"WWW-Authenticate": "Bearer"}
                )
            return staff.name
        if scheme:
            return None  # another bearer token: COMMS_STAFF_TOKENS decides
        who = signed_in(ws, request)
        if who is None:
            return None
        if request.method not in SAFE:
            given = request.headers.get(CSRF_HEADER, "")
            if not given or not hmac.compare_digest(given.encode(), who.csrf_token.encode()):
                raise HTTPException(403, "a signed-in request must carry X-CSRF-Token")
        return who.name

    return authenticate
