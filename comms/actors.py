"""The delivery actors: dramatiq's side of the outbox. Thin: decode the arguments, call
`comms.dispatch`. What every job shares (its `now`, its log lines, no retry of a
`PermanentError`) is `comms.job_middleware`'s.

The database is the source of truth: a message only says "go look at delivery N" (or at
deliveries N, M, …: the scheduler sends batches, `DeliveryBatches`). A repeated
message finds the row already claimed or sent and does nothing; a lost one is found again by
the scheduler's sweep. Send failures that the provider reports are handled by the outbox
(`comms.outbox.apply_outcome`: bounded attempts with backoff, then the workflow is told);
an exception here (database down, a bug) is retried by dramatiq a bounded number of times with
exponential backoff, except `PermanentError`, which is not retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import dramatiq

from comms.broker import declare_actor, send
from comms.dispatch import deliver as dispatch_deliver
from comms.dispatch import deliver_many as dispatch_deliver_many
from comms.errors import PermanentError
from comms.job_middleware import job_now

log = logging.getLogger(__name__)

MAX_RETRIES = 5


def _retry_when(retries: int, exc: BaseException) -> bool:
    """Bounded; a `PermanentError` is not retried (every actor `throws` it), and neither is a
    missing row or sender (LookupError) or a bad value (ValueError)."""
    return retries < MAX_RETRIES and not isinstance(exc, PermanentError | LookupError | ValueError)


def _deliver(delivery_id: int, now: str | None = None) -> None:
    dispatch_deliver(int(delivery_id), now=job_now(now))


def _deliver_many(delivery_ids: list[int], now: str | None = None) -> None:
    try:
        ids = [int(i) for i in delivery_ids]
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"bad delivery ids {delivery_ids!r}") from exc
    dispatch_deliver_many(ids, now=job_now(now))


def _delivery_actor(fn: Callable[..., None], name: str) -> dramatiq.Actor:
    return declare_actor(
        fn,
        name=name,
        priority=0,
        options={"retry_when": _retry_when, "min_backoff": 1000, "max_backoff": 300_000},
    )


deliver: dramatiq.Actor = _delivery_actor(_deliver, "deliver")


def enqueue_delivery(delivery_id: int, *, now: datetime | None = None) -> None:
    """Ask a worker to deliver this outbox row (`now`: a simulated clock, for `--now`)."""
    send(deliver, int(delivery_id), now=now)


deliver_many: dramatiq.Actor = _delivery_actor(_deliver_many, "deliver_many")

BATCH = 100  # delivery ids per message


class DeliveryBatches:
    """An `enqueue` for the scheduler that asks for many deliveries per message: ids are
    collected and sent `size` at a time, and `flush` sends the rest. A worker delivers a
    batch as one stream (`comms.dispatch.deliver_many`: claimed, rendered and recorded in
    bulk, sent over the pooled connections). A row of a lost message is found by the sweep."""

    def __init__(self, *, now: datetime | None = None, size: int = BATCH) -> None:
        self.now = now
        self.size = size
        self.ids: list[int] = []

    def __call__(self, delivery_id: int) -> None:
        self.ids.append(int(delivery_id))
        if len(self.ids) >= self.size:
            self.flush()

    def flush(self) -> None:
        ids, self.ids = self.ids, []
        if ids:
            send(deliver_many, ids, now=self.now)
