"""The "email" channel sender: pooled SMTP when COMMS_SMTP_HOST is set, else a file outbox.

SMTP replies map to outcomes: 2xx → sent; 4xx (or a dropped connection) → retry, which the
outbox turns into a retry with backoff; 5xx on RCPT or DATA → bounced (the dispatcher puts the
address on the suppression list); 5xx on MAIL FROM → failed (a configuration problem, not the
recipient's). A connection found dropped before DATA is replaced and the message is tried
once more at once; a failure during DATA is never retried here, because the server may
already have accepted it (the documented window of comms.outbox).
"""

from __future__ import annotations

import logging
from datetime import datetime

import aiosmtplib

from comms.channels import ChannelSender, SendOutcome, register_sender
from comms.email.message import envelope_sender, message_bytes, message_id_of, recipients_of
from comms.email.pool import SmtpPool
from comms.files import write_atomic
from comms.models import Delivery
from comms.redact import redact
from comms.settings import Settings

log = logging.getLogger(__name__)


class FileOutboxSender:
    """Writes each message as `<delivery id>.eml` into the outbox folder (atomically)."""

    channel = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.effective_outbox_dir

    async def send(self, delivery: Delivery, *, now: datetime) -> SendOutcome:
        data = message_bytes(delivery, self.settings)
        target = self.folder / f"{delivery.id}.eml"
        write_atomic(target, data, prefix=f".{delivery.id}.")
        return SendOutcome(
            status="sent",
            provider_message_id=f"file:{target.name}",
            message_id=message_id_of(delivery, self.settings),
        )

    async def aclose(self) -> None:
        return None


class _Refused(Exception):
    def __init__(self, stage: str, code: int, message: str) -> None:
        super().__init__(f"{stage} {code} {message}")
        self.stage = stage
        self.code = code
        self.message = message


class SmtpSender:
    channel = "email"

    def __init__(self, settings: Settings, *, pool: SmtpPool | None = None) -> None:
        self.settings = settings
        self.pool = pool or SmtpPool(settings)

    async def send(self, delivery: Delivery, *, now: datetime) -> SendOutcome:
        data = message_bytes(delivery, self.settings)
        message_id = message_id_of(delivery, self.settings)
        sender = envelope_sender(self.settings)
        rcpts = recipients_of(delivery)
        await self.pool.bucket.take()
        for attempt in (1, 2):
            try:
                conn = await self.pool.acquire()
            except (aiosmtplib.SMTPException, OSError) as exc:
                return SendOutcome(
                    status="retry", error=f"cannot connect: {exc}", error_code="connect"
                )
            stage = "MAIL"
            client = conn.client
            assert client is not None
            try:
                await self._command(client.mail(sender), "MAIL")
                stage = "RCPT"
                accepted = 0
                first_error: _Refused | None = None
                for i, rcpt in enumerate(rcpts):
                    try:
                        await self._command(client.rcpt(rcpt), "RCPT")
                        accepted += 1
                    except _Refused as refused:
                        if i == 0 or refused.code < 500:
                            first_error = first_error or refused
                        log.info("cc %s refused: %s", redact(rcpt), refused)
                    if i == 0 and first_error is not None:
                        break
                if first_error is not None or accepted == 0:
                    await self._reset(client)
                    self.pool.release(conn, broken=not client.is_connected)
                    raise first_error or _Refused("RCPT", 550, "no recipient accepted")
                stage = "DATA"
                response = await self._command(client.data(data), "DATA")
                conn.sent += 1
                self.pool.release(conn)
                return SendOutcome(
                    status="sent", provider_message_id=response, message_id=message_id
                )
            except _Refused as refused:
                if stage != "RCPT":
                    if refused.code < 500 or stage == "DATA":
                        await self._reset(client)
                    self.pool.release(conn, broken=not client.is_connected)
                return _outcome(refused)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
                self.pool.release(conn, broken=True)
                if stage != "DATA" and attempt == 1:
                    log.info("SMTP connection dropped before %s; reconnecting", stage)
                    continue
                return SendOutcome(
                    status="retry",
                    error=f"connection lost during {stage}: {exc}",
                    error_code="disconnected",
                )
        return SendOutcome(status="retry", error="connection lost", error_code="disconnected")

    @staticmethod
    async def _command(awaitable: object, stage: str) -> str:
        try:
            response = await awaitable  # type: ignore[misc]
        except aiosmtplib.SMTPResponseException as exc:
            if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                raise
            raise _Refused(stage, exc.code, str(exc.message)) from None
        return f"{response.code} {response.message}"

    @staticmethod
    async def _reset(client: aiosmtplib.SMTP) -> None:
        if not client.is_connected:
            return
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    async def aclose(self) -> None:
        await self.pool.aclose()


def _outcome(refused: _Refused) -> SendOutcome:
    error = f"{refused.stage} refused: {refused.code} {refused.message}"
    code = f"smtp_{refused.code}"
    if refused.code < 500:
        return SendOutcome(status="retry", error=error, error_code=code)
    if refused.stage in ("RCPT", "DATA"):
        return SendOutcome(status="bounced", error=error, error_code=code)
    return SendOutcome(status="failed", error=error, error_code=code)


def email_sender(settings: Settings) -> ChannelSender:
    if settings.smtp_host:
        return SmtpSender(settings)
    return FileOutboxSender(settings)


register_sender("email", email_sender)
