"""A cap on request bodies for the whole web app (ASGI middleware).

Nothing the app serves takes more than a few kilobytes: Twilio's callbacks and the staff API's
small JSON documents. FastAPI reads a JSON body before a route's dependencies run, so without
a cap an unauthenticated client could make the server hold an arbitrarily large body in
memory before it is told 401. A declared length over the cap is answered 413 before anything
is read; a body without one (chunked) is counted as it arrives and refused once over the cap.
Each part of a body must arrive within `timeout` seconds (a client that drips its body gets
408 and the app is told it left); once the body is complete, waiting for the client to leave
(a server-sent event stream) has no limit.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024  # bytes
BODY_TIMEOUT = 30.0  # seconds for each part of a body (COMMS_WEB_BODY_TIMEOUT)


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_BODY,
        larger: Sequence[tuple[str, int]] = (),
        timeout: float = BODY_TIMEOUT,
    ) -> None:
        """`larger`: (path regex, cap) for the few routes that take files (a certificate
        upload in the workspace)."""
        self.app = app
        self.limit = limit
        self.larger = [(re.compile(pattern), cap) for pattern, cap in larger]
        self.timeout = timeout

    def _cap(self, path: str) -> int:
        for pattern, cap in self.larger:
            if pattern.fullmatch(path):
                return cap
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._cap(str(scope.get("path", "")))
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, 413, f"request body over {limit} bytes")
            return
        seen = 0
        started = refused = complete = False

        async def counted() -> Message:
            nonlocal seen, refused, complete
            if refused:
                return {"type": "http.disconnect"}
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                refused = True
                if not started:
                    await self._refuse(send, 408, "request body too slow")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                complete = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > limit:  # answered here; the app is told the client left
                    refused = True
                    if not started:
                        await self._refuse(send, 413, f"request body over {limit} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the answer was 413 or 408
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)

    async def _refuse(self, send: Send, status: int, detail: str) -> None:
        body = f'{{"detail": "{detail}"}}'.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
