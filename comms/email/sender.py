"""The "email" channel sender: pooled SMTP when COMMS_SMTP_HOST is set, else a file outbox.

SMTP replies map to outcomes: 2xx → sent; 4xx (or a dropped connection) → retry, which the
outbox turns into a retry with backoff; 5xx on RCPT or DATA → bounced (the dispatcher puts the
address on the suppression list); 5xx on MAIL FROM → failed (a configuration problem, not the
recipient's). A connection found dropped before DATA is replaced and the message is tried
once more at once; a failure during DATA is never retried here, because the server may
already have accepted it (the documented window of comms.outbox).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import lru_cache, partial

import aiosmtplib

from comms.channels import ChannelSender, SendOutcome
from comms.email.message import envelope_sender, message_bytes, message_id_of, recipients_of
from comms.email.pool import SmtpPool
from comms.errors import CommsError
from comms.files import write_atomic
from comms.models import Delivery
from comms.redact import redact
from comms.settings import Settings

log = logging.getLogger(__name__)


class FileOutboxSender:
    """Writes each message as `<delivery id>.eml` into the outbox folder (atomically).

    The write (and its fsync) runs on a small pool of threads, so the messages the stream's
    senders hand over at once are synced together (the file system commits them in one
    journal transaction, not one each) while the event loop renders the next ones."""

    channel = "email"
    WRITERS = 8

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.effective_outbox_dir
        self._pool: ThreadPoolExecutor | None = None

    async def send(self, delivery: Delivery, *, now: datetime) -> SendOutcome:
        data = message_bytes(delivery, self.settings)
        target = self.folder / f"{delivery.id}.eml"
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.WRITERS, thread_name_prefix="outbox-write")
        await asyncio.get_running_loop().run_in_executor(
            self._pool, partial(write_atomic, target, data, prefix=f".{delivery.id}.")
        )
        return SendOutcome(
            status="sent",
            provider_message_id=f"file:{target.name}",
            message_id=message_id_of(delivery, self.settings),
        )

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)  # (every write was awaited)


class _Refused(CommsError):
    """The server answered a command with a refusal (`reply`: its SMTP reply code; 4xx
    transient, 5xx permanent, decided per message by `_outcome`)."""

    code = "smtp_refused"

    def __init__(self, stage: str, reply: int, message: str) -> None:
        super().__init__(f"{stage} {reply} {message}")
        self.stage = stage
        self.reply = reply
        self.message = message


class _Transaction:
    """One message over a pooled connection: MAIL, RCPT for each recipient, DATA.

    The commands go straight through aiosmtplib's protocol object: the connection is ours
    alone while the pool lends it, one deadline (`COMMS_SMTP_TIMEOUT`) covers the whole
    transaction instead of a timer per command, the envelope addresses are checked by
    `envelope_path`, and the message from `message_bytes` already has CRLF line ends, so
    only dot-stuffing is left to do. A recipient refused after the first one (a Cc) is
    logged and skipped; a refused first recipient ends the transaction."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client
        self.stage = "MAIL"

    async def _command(self, line: bytes, accept: frozenset[int]) -> str:
        protocol = self.client.protocol
        if protocol is None or not self.client.is_connected:
            raise aiosmtplib.SMTPServerDisconnected("connection lost")
        protocol.write(line)
        response = await protocol.read_response(timeout=None)
        if response.code not in accept:
            raise _Refused(self.stage, response.code, response.message)
        return f"{response.code} {response.message}"

    async def run(self, sender: bytes, rcpts: list[bytes], data: bytes) -> str:
        self.stage = "MAIL"
        await self._command(b"MAIL FROM:" + sender + b"\r\n", _OK)
        self.stage = "RCPT"
        for i, rcpt in enumerate(rcpts):
            try:
                await self._command(b"RCPT TO:" + rcpt + b"\r\n", _RCPT_OK)
            except _Refused as refused:
                if i == 0:
                    raise
                log.info("cc %s refused: %s", redact(rcpt.decode()), refused)
        self.stage = "DATA"
        await self._command(b"DATA\r\n", _DATA_OK)
        return await self._command(dot_stuffed(data) + b".\r\n", _OK)


_OK = frozenset({250})
_RCPT_OK = frozenset({250, 251})  # 251: not local, will forward
_DATA_OK = frozenset({354})


def dot_stuffed(data: bytes) -> bytes:
    """The message as DATA carries it (RFC 5321 4.5.2): a line that starts with a period gets
    a second one, and the last line ends with CRLF. `data` has CRLF line ends."""
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    return data if data.endswith(b"\r\n") else data + b"\r\n"


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a refusal, so the connection can carry the next message."""
    if not client.is_connected:
        return
    try:
        async with asyncio.timeout(10):
            await client.rset()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()


class SmtpSender:
    channel = "email"

    def __init__(self, settings: Settings, *, pool: SmtpPool | None = None) -> None:
        self.settings = settings
        self.pool = pool or SmtpPool(settings)

    async def send(self, delivery: Delivery, *, now: datetime) -> SendOutcome:
        data = message_bytes(delivery, self.settings)
        message_id = message_id_of(delivery, self.settings)
        try:
            sender = envelope_path(envelope_sender(self.settings))
            rcpts = [envelope_path(a) for a in recipients_of(delivery)]
        except ValueError as exc:
            return SendOutcome(status="failed", error=str(exc), error_code="invalid_address")
        await self.pool.bucket.take()
        for attempt in (1, 2):
            try:
                conn = await self.pool.acquire()
            except (aiosmtplib.SMTPException, OSError) as exc:
                return SendOutcome(
                    status="retry", error=f"cannot connect: {exc}", error_code="connect"
                )
            client = conn.client
            assert client is not None
            transaction = _Transaction(client)
            try:
                async with asyncio.timeout(self.settings.smtp_timeout):
                    response = await transaction.run(sender, rcpts, data)
                conn.sent += 1
                self.pool.release(conn)
                return SendOutcome(
                    status="sent", provider_message_id=response, message_id=message_id
                )
            except _Refused as refused:
                if transaction.stage != "MAIL" or refused.reply < 500:
                    await _reset(client)
                self.pool.release(conn, broken=not client.is_connected)
                return _outcome(refused)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                # dropped, timed out or out of step: this connection cannot be trusted
                self.pool.release(conn, broken=True)
                stage = transaction.stage
                if stage != "DATA" and attempt == 1 and not isinstance(exc, TimeoutError):
                    log.info("SMTP connection dropped before %s; reconnecting", stage)
                    continue
                return SendOutcome(
                    status="retry",
                    error=f"connection lost during {stage}: {exc or type(exc).__name__}",
                    error_code="disconnected",
                )
        return SendOutcome(status="retry", error="connection lost", error_code="disconnected")

    async def aclose(self) -> None:
        await self.pool.aclose()


@lru_cache(maxsize=4096)
def envelope_path(address: str) -> bytes:
    """The `<address>` of a MAIL FROM or RCPT TO command. Raises ValueError for an address
    that cannot go on the envelope (not ASCII, whitespace, angle brackets, no @)."""
    bare = address.strip()
    if (
        not bare.isascii()
        or "@" not in bare
        or any(ch.isspace() or ch in "<>" or ord(ch) < 32 for ch in bare)
    ):
        raise ValueError(f"not a usable envelope address: {bare!r}")
    return f"<{bare}>".encode("ascii")


def _outcome(refused: _Refused) -> SendOutcome:
    error = f"{refused.stage} refused: {refused.reply} {refused.message}"
    code = f"smtp_{refused.reply}"
    if refused.reply < 500:
        return SendOutcome(status="retry", error=error, error_code=code)
    if refused.stage in ("RCPT", "DATA"):
        return SendOutcome(status="bounced", error=error, error_code=code)
    return SendOutcome(status="failed", error=error, error_code=code)


def email_sender(settings: Settings) -> ChannelSender:
    if settings.smtp_host:
        return SmtpSender(settings)
    return FileOutboxSender(settings)
