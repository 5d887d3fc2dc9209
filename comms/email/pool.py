"""A pool of reused SMTP connections (aiosmtplib) with recycling and a token-bucket rate.

`COMMS_SMTP_CONNECTIONS` connections are opened lazily and reused; each is closed and
replaced after `COMMS_SMTP_MAX_PER_CONNECTION` messages, and a connection the server dropped
is replaced on its next use. `COMMS_SMTP_RATE_PER_SECOND` (0: unlimited) caps the rate.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass

import aiosmtplib

from comms.settings import Settings

log = logging.getLogger(__name__)


class TokenBucket:
    def __init__(self, rate: float, *, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class Connection:
    client: aiosmtplib.SMTP | None = None
    sent: int = 0

    @property
    def usable(self) -> bool:
        return self.client is not None and self.client.is_connected


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO (or HELO for an old server) once per connection: the sender issues MAIL and RCPT
    as plain commands, which do not greet by themselves."""
    if not client.is_ehlo_or_helo_needed:
        return
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not client.is_connected:
            raise
        await client.helo()


class SmtpPool:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.size = settings.smtp_connections
        self.max_per_connection = settings.smtp_max_per_connection
        self.bucket = TokenBucket(settings.smtp_rate_per_second)
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(self.size):
            self._idle.put_nowait(Connection())
        self.opened = 0  # connections opened over the pool's life
        self._closed = False

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        tls_context = None
        if s.smtp_tls != "none":
            cafile = str(s.smtp_ca_file) if s.smtp_ca_file else None
            tls_context = ssl.create_default_context(cafile=cafile)
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_tls == "implicit",
            start_tls=s.smtp_tls == "starttls",
            validate_certs=s.smtp_tls != "none",
            tls_context=tls_context,
            timeout=s.smtp_timeout,
            username=s.smtp_username or None,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        )

    async def acquire(self) -> Connection:
        if self._closed:
            raise RuntimeError("the SMTP pool is closed")
        conn = await self._idle.get()
        try:
            if conn.usable and conn.sent >= self.max_per_connection:
                await self._quit(conn)
            if not conn.usable:
                conn.client = None
                client = self._client()
                try:
                    await client.connect()
                    await _greet(client)
                except BaseException:
                    client.close()  # e.g. refused login: do not leave the socket open
                    raise
                self.opened += 1
                conn.client = client
                conn.sent = 0
        except BaseException:
            conn.client = None
            self._idle.put_nowait(conn)
            raise
        return conn

    def release(self, conn: Connection, *, broken: bool = False) -> None:
        if broken and conn.client is not None:
            conn.client.close()
            conn.client = None
        self._idle.put_nowait(conn)

    async def _quit(self, conn: Connection) -> None:
        client, conn.client = conn.client, None
        if client is None:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    async def aclose(self) -> None:
        self._closed = True
        while not self._idle.empty():
            await self._quit(self._idle.get_nowait())
