"""`/events`: one server-sent event stream per tab. A stream ends after a few minutes (the
browser's EventSource reconnects by itself), so no stream holds a server's shutdown for long."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route
from comms.app.workspace.security import require_staff
from comms.staff.sessions import SignedIn

HEARTBEAT = 15.0  # seconds between comments that keep proxies from closing the stream
LIFETIME = 300.0
RETRY_MS = 3000


def router(ws: Workspace, *, heartbeat: float = HEARTBEAT, lifetime: float = LIFETIME) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    anyone = require_staff(ws)

    @api.get("/events")
    async def events(request: Request, _who: SignedIn = Depends(anyone)) -> Response:
        sub = ws.hub.subscribe()

        async def stream() -> AsyncIterator[str]:
            ends = time.monotonic() + lifetime
            try:
                yield f"retry: {RETRY_MS}\n: connected\n\n"
                while time.monotonic() < ends:
                    if await request.is_disconnected():
                        return
                    try:
                        event = await asyncio.wait_for(sub.queue.get(), timeout=heartbeat)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if event is None:  # the server is stopping
                        return
                    yield f"event: {event.kind}\ndata: {event.encode()}\n\n"
            finally:
                sub.close()

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return api
