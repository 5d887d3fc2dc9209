"""How the web app is served (uvicorn): slow clients cannot hold the process.

uvicorn times out an idle keep-alive connection but not one that drips a request's headers a
byte at a time, nor one that connects and sends nothing. `HeaderDeadline` closes a connection
whose request headers are not complete `COMMS_WEB_HEADER_TIMEOUT` seconds after its first byte
(or after it connected), and one whose headers pass `MAX_HEADER_BYTES`; the body's pace is
`comms.body_limit`'s (`COMMS_WEB_BODY_TIMEOUT`); `COMMS_WEB_MAX_CONNECTIONS` caps the
connections (uvicorn answers 503 beyond it). No `Server:` header is sent.

The parser is httptools (C) when it is installed, else h11 (pure Python, several times the CPU
per request); the event loop uvloop when installed (uvicorn's "auto"). Both guards hold for
either parser (`tests/workspace/test_web_guard.py` runs them on each).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from comms.settings import Settings

MAX_HEADER_BYTES = 16 * 1024


class HeaderDeadline(asyncio.Protocol):
    """Mixed in before a uvicorn HTTP protocol (which sets `loop`, `transport`, `cycle`)."""

    header_timeout = 10.0  # set per server by `uvicorn_options`
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._headers_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        super().connection_made(transport)
        self._await_headers()

    def _await_headers(self) -> None:
        if self._headers_timer is None:
            self._header_bytes = 0
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
            self._header_bytes += len(data)
        super().data_received(data)
        if self._in_request():
            self._stop_waiting()
        elif self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self.transport.close()  # headers larger than any browser or Twilio sends

    def response_done(self) -> None:
        # idle again: uvicorn's keep-alive timer runs; a new request restarts ours
        self._stop_waiting()

    def _too_slow(self) -> None:
        self._headers_timer = None
        if not self._in_request() and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)


class GuardedH11Protocol(HeaderDeadline, H11Protocol):
    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.response_done()


def parser_protocol(name: str = "auto") -> type[asyncio.Protocol]:
    """The guarded protocol for `name` ("httptools", "h11", or "auto": httptools if
    installed)."""
    if name in ("auto", "httptools"):
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        except ImportError:
            if name == "httptools":
                raise
        else:

            class GuardedHttpToolsProtocol(HeaderDeadline, HttpToolsProtocol):
                def on_response_complete(self) -> None:
                    super().on_response_complete()
                    self.response_done()

            return GuardedHttpToolsProtocol
    return GuardedH11Protocol


def uvicorn_options(settings: Settings, parser: str = "auto") -> dict[str, Any]:
    """The keyword arguments of `uvicorn.Config`/`uvicorn.run` that every server here uses."""
    base = parser_protocol(parser)
    protocol = type(
        f"Guarded{base.__name__}", (base,), {"header_timeout": settings.web_header_timeout}
    )
    return {
        "http": protocol,
        "loop": "auto",
        "server_header": False,
        "limit_concurrency": settings.web_max_connections,
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
