"""Dramatiq actors. Thin: decode the arguments, call the domain function.

The database is the source of truth: a message only says "go look at delivery N". A repeated
message finds the row already claimed or sent and does nothing; a lost one is found again by
the scheduler's sweep. Send failures that the provider reports are handled by the outbox
(`comms.outbox.apply_outcome`: bounded attempts with backoff, then the workflow is told);
an exception here (database down, a bug) is retried by dramatiq a bounded number of times with
exponential backoff, except `PermanentError`, which is not retried.
"""

from __future__ import annotations

import logging
from datetime import datetime

import dramatiq

from comms.timeutil import ensure_aware, utcnow
from workflows.broker import QUEUE, current_broker, register_actor

log = logging.getLogger(__name__)

MAX_RETRIES = 5


class PermanentError(Exception):
    """An error that another attempt cannot fix (bad arguments, missing configuration)."""


def _retry_when(retries: int, exc: BaseException) -> bool:
    return retries < MAX_RETRIES and not isinstance(exc, PermanentError | LookupError | ValueError)


def _deliver(delivery_id: int, now: str | None = None) -> None:
    try:
        when = ensure_aware(datetime.fromisoformat(now)) if now else utcnow()
    except ValueError as exc:
        raise PermanentError(f"bad 'now' argument {now!r}") from exc
    from comms.dispatch import deliver as dispatch_deliver

    dispatch_deliver(int(delivery_id), now=when)


deliver: dramatiq.Actor = register_actor(
    dramatiq.Actor(
        _deliver,
        broker=current_broker(),
        actor_name="deliver",
        queue_name=QUEUE,
        priority=0,
        options={"retry_when": _retry_when, "min_backoff": 1000, "max_backoff": 300_000},
    )
)


def enqueue_delivery(delivery_id: int, *, now: datetime | None = None) -> None:
    """Ask a worker to deliver this outbox row (`now`: a simulated clock, for `--now`)."""
    deliver.send(int(delivery_id), now.isoformat() if now is not None else None)


# The inbound-processing actor lives with its package; importing it here declares it wherever
# the delivery actor is declared (the worker, `comms run`, `comms tick`'s drain).
import inbound.jobs  # noqa: E402,F401
