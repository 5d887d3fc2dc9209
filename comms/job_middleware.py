"""What every dramatiq job shares, in one middleware: its clock, its log lines, and no retry of
a permanent error.

A job's message ends with its `now`: ISO 8601, or None for the worker's clock (`comms tick
--now` and `comms ingest --now` run the whole pipeline at a simulated time). `send` encodes
it; `JobMiddleware` decodes it before the actor runs (a bad one is a `PermanentError`) and the
actor reads it with `job_now`. Every failure is logged once, redacted, saying whether it will
be retried. A `PermanentError` is not retried: `declare_actor` (`comms.broker`) gives every
actor `throws=PermanentError`, which dramatiq's Retries middleware honours.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy

from comms.errors import PermanentError
from comms.redact import redact
from comms.timeutil import ensure_aware, utcnow

log = logging.getLogger(__name__)

_now: ContextVar[datetime | None] = ContextVar("job_now", default=None)


def encode_now(now: datetime | None) -> str | None:
    return now.isoformat() if now is not None else None


def decode_now(value: object) -> datetime:
    """A message's `now`: the moment it names, or the worker's clock for None (or "")."""
    if not value:
        return utcnow()
    try:
        return ensure_aware(datetime.fromisoformat(str(value)))
    except ValueError as exc:
        raise PermanentError(f"bad 'now' argument {value!r}") from exc


def job_now(value: str | None = None) -> datetime:
    """The `now` of the job being run, decoded by the middleware; `value` decoded here when
    the actor's function is called outside a worker."""
    decoded = _now.get()
    return decoded if decoded is not None else decode_now(value)


def _message_now(message: MessageProxy) -> object:
    if "now" in message.kwargs:
        return message.kwargs["now"]
    return message.args[-1] if message.args else None


class JobMiddleware(dramatiq.Middleware):
    """Decodes each message's `now` before its actor runs and logs its failure, redacted."""

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        _now.set(None)  # a bad `now` must not leave the previous job's in place
        _now.set(decode_now(_message_now(message)))

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        _now.set(None)
        if exception is None:
            return
        log.warning(
            "job %s %s failed%s: %s",
            message.actor_name,
            message.message_id,
            " (permanent: not retried)" if isinstance(exception, PermanentError) else "",
            redact(f"{type(exception).__name__}: {exception}"),
        )

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        _now.set(None)
