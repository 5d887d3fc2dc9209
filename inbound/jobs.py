"""The dramatiq actor that processes one stored inbound message. Thin: it decodes its
arguments and calls `inbound.pipeline.process_message`, which never raises for a bad message
(it quarantines it); an exception here is a system error (database down) and is retried."""

from __future__ import annotations

from datetime import datetime, timedelta

import dramatiq
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.broker import declare_actor, send
from comms.job_middleware import job_now
from inbound.pipeline import process_message, stale_messages


def _process(inbound_id: int, now: str | None = None) -> None:
    process_message(int(inbound_id), now=job_now(now))


process_inbound: dramatiq.Actor = declare_actor(
    _process,
    name="process_inbound",
    priority=10,
    options={"max_retries": 5, "min_backoff": 1000, "max_backoff": 300_000},
)


def enqueue_processing(inbound_id: int, *, now: datetime | None = None) -> None:
    """Ask a worker to process this stored message (`now`: a simulated clock, for `--now`)."""
    send(process_inbound, int(inbound_id), now=now)


STALE_AFTER = timedelta(minutes=5)


def sweep(engine: Engine, *, now: datetime) -> list[int]:
    """Re-enqueue stored messages whose job was lost and ones whose worker died (lease out)."""
    with Session(engine) as session:
        ids = stale_messages(session, now=now, older_than=STALE_AFTER)
    for inbound_id in ids:
        enqueue_processing(inbound_id)
    return ids
