"""How the web app is served (uvicorn): slow clients cannot hold the process.

uvicorn times out an idle keep-alive connection but not one that drips a request's headers a
byte at a time, nor one that connects and sends nothing. `GuardedH11Protocol` closes a
connection whose request headers are not complete `COMMS_WEB_HEADER_TIMEOUT` seconds after
its first byte (or after it connected); the body's pace is `comms.body_limit`'s
(`COMMS_WEB_BODY_TIMEOUT`); `COMMS_WEB_MAX_CONNECTIONS` caps the connections (uvicorn answers
503 beyond it). No `Server:` header is sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from comms.settings import Settings


class GuardedH11Protocol(H11Protocol):
    header_timeout = 10.0  # set per server by `uvicorn_options`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._headers_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._await_headers()

    def _await_headers(self) -> None:
        if self._headers_timer is None:
            self._headers_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _stop_waiting(self) -> None:
        if self._headers_timer is not None:
            self._headers_timer.cancel()
            self._headers_timer = None

    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def data_received(self, data: bytes) -> None:
        if not self._in_request():
            self._await_headers()  # the next request on a kept-alive connection
        super().data_received(data)
        if self._in_request():
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # idle again: uvicorn's keep-alive timer runs; a new request restarts ours
        self._stop_waiting()

    def _too_slow(self) -> None:
        self._headers_timer = None
        if not self._in_request() and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of `uvicorn.Config`/`uvicorn.run` that every server here uses."""
    protocol = type(
        "GuardedH11", (GuardedH11Protocol,), {"header_timeout": settings.web_header_timeout}
    )
    return {
        "http": protocol,
        "server_header": False,
        "limit_concurrency": settings.web_max_connections,
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": 16 * 1024,
    }
