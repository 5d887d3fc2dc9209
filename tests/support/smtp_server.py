"""A real SMTP server for tests (aiosmtpd on a free loopback port) that can be told to fail.

    with SmtpTestServer() as server:
        server.rcpt_replies["bad@example.com"] = "550 5.1.1 no such user"
        server.next_data_replies.append("450 4.3.0 try later")
        server.drop_next_mail = True   # close the connection when MAIL FROM arrives
        server.drop_all()              # close every open connection (idle pool connections)

It records what it accepted (`messages`: envelope and parsed message) and counts the
connections clients opened (`connections`).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.support.services import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool = False  # the message came over an encrypted connection

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _CountingSMTP(SMTP):
    def __init__(self, handler: Any, owner: SmtpTestServer, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        with self._owner.lock:
            self._owner.connections += 1
            self._owner.open_transports.append(transport)


class _Handler:
    def __init__(self, owner: SmtpTestServer) -> None:
        self.owner = owner

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        o = self.owner
        if o.drop_next_mail:
            o.drop_next_mail = False
            server.transport.abort()
            return "421 gone"
        if o.next_mail_replies:
            return o.next_mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        o = self.owner
        reply = o.rcpt_replies.get(address.lower())
        if reply:
            return reply
        if o.next_rcpt_replies:
            return o.next_rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        o = self.owner
        if o.drop_next_data:
            o.drop_next_data = False
            server.transport.abort()
            return "421 gone"
        if o.stall_next_data:
            stall, o.stall_next_data = o.stall_next_data, 0.0
            await asyncio.sleep(stall)  # a server that takes too long to answer the message
            return "451 too late"
        if o.next_data_replies:
            return o.next_data_replies.pop(0)
        if o.data_delay:
            await asyncio.sleep(o.data_delay)  # a server that takes its time
        with o.lock:
            o.messages.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    bytes(envelope.content),
                    tls=server.transport.get_extra_info("ssl_object") is not None,
                )
            )
        return f"250 OK queued as {len(o.messages)}"


class SmtpTestServer:
    """``tls``: a server context; with ``implicit`` the connection is TLS from the start,
    else the server offers STARTTLS and requires it before MAIL."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        implicit: bool = False,
    ) -> None:
        self.host = "127.0.0.1"
        self.credentials = credentials
        self.logins: list[str] = []
        self.port = free_port()
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        self.connections = 0
        self.open_transports: list[Any] = []
        self.rcpt_replies: dict[str, str] = {}
        self.next_mail_replies: list[str] = []
        self.next_rcpt_replies: list[str] = []
        self.stall_next_data = 0.0  # seconds to wait before answering the next DATA
        self.data_delay = 0.0  # seconds every accepted DATA takes
        self.next_data_replies: list[str] = []
        self.drop_next_mail = False
        self.drop_next_data = False
        handler = _Handler(self)
        owner = self

        class _Controller(Controller):
            def factory(self) -> SMTP:
                extra: dict[str, Any] = {}
                if owner.credentials is not None:
                    extra = {
                        "auth_required": True,
                        # aiosmtpd knows of STARTTLS only; implicit TLS is encrypted anyway
                        "auth_require_tls": tls is not None and not implicit,
                        "authenticator": owner._authenticate,
                    }
                if tls is not None and not implicit:
                    extra.update(tls_context=tls, require_starttls=True)
                return _CountingSMTP(self.handler, owner, hostname="smtp.test", timeout=30, **extra)

        self.controller = _Controller(
            handler,
            hostname=self.host,
            port=self.port,
            ssl_context=tls if implicit else None,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            self.credentials is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == self.credentials
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)

    def start(self) -> SmtpTestServer:
        self.controller.start()
        with self.lock:  # aiosmtpd's own readiness probe is not a client connection
            self.connections = 0
            self.open_transports.clear()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def drop_all(self) -> None:
        """Close every client connection, as a server that times out idle clients does."""
        loop = self.controller.loop
        with self.lock:
            transports, self.open_transports = self.open_transports, []
        for t in transports:
            loop.call_soon_threadsafe(t.abort)

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
