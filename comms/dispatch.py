"""Deliver outbox rows: claim → channel sender → apply the outcome.

Senders (and so the SMTP connection pool) live as long as the process: the synchronous
`deliver` used by dramatiq actors runs every send on one dedicated event-loop thread, so all
actor threads share one pool. `deliver_async` uses senders bound to the calling event loop.

A row that is not `queued` (already sent, being sent by someone else, or not yet due) is left
alone and None is returned. A row planned without its content (the workflow scheduler's) is
rendered after the claim and stored before the send (`comms.deferred`). The session's
transaction is closed before the send is awaited, so a slow server never holds a database
lock. A crash between the claim and the send leaves the row `sending` until its lease expires
and the sweep re-queues it: one send. An outcome that cannot be recorded (the database is
out) is kept and retried. The only window for a repeated send is the one documented in
comms.outbox.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import Coroutine, Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.channel_spec import channel_spec
from comms.channels import ChannelSender, SendOutcome
from comms.db import get_engine
from comms.delivery_batch import (
    OUTAGE_LIMIT,
    is_outage,
    outage_text,
    record_outcome,
    render_claimed,
    stream_deliveries,
)
from comms.models import Delivery
from comms.outbox import claim, send_lease
from comms.settings import Settings, get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class Dispatcher:
    """The senders of one event loop, built from one Settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.senders: dict[str, ChannelSender] = {}
        # one stream at a time per process: the streams share the senders' connections
        # anyway, and the rows a crash can repeat are then one stream's (`comms.outbox`)
        self.stream_lock = asyncio.Lock()

    def sender(self, channel: str) -> ChannelSender:
        found = self.senders.get(channel)
        if found is None:
            found = channel_spec(channel).sender(self.settings)
            self.senders[channel] = found
        return found

    async def aclose(self) -> None:
        senders, self.senders = list(self.senders.values()), {}
        for sender in senders:
            try:
                await sender.aclose()
            except Exception:
                log.exception("closing the %s sender failed", sender.channel)

    async def send(self, row: Delivery, now: datetime) -> SendOutcome:
        try:
            return await self.sender(row.channel).send(row, now=now)
        except Exception as exc:  # a sender bug must not leave the row in `sending`
            log.exception("sender %s failed on delivery %s", row.channel, row.id)
            return SendOutcome(
                status="retry", error=f"{type(exc).__name__}: {exc}", error_code="sender_error"
            )

    async def deliver(self, engine: Engine, delivery_id: int, *, now: datetime) -> Delivery | None:
        lease = send_lease(self.settings.smtp_timeout)
        with Session(engine, expire_on_commit=False) as session:
            row = claim(session, delivery_id, now=now, lease=lease)
            if row is None:
                return None
            session.commit()  # end the read transaction before awaiting the network
            ready, unrenderable = render_claimed(session, [row], settings=self.settings)
            outcome = unrenderable[0][1] if unrenderable else await self.send(ready[0], now)
        return await _record_one(engine, delivery_id, outcome, now=now)


async def _record_one(
    engine: Engine, delivery_id: int, outcome: SendOutcome, *, now: datetime
) -> Delivery | None:
    """Record one outcome, retried with backoff while the database is out (kept in memory
    meanwhile, `comms.delivery_batch.OUTAGE_LIMIT` at most)."""
    delay, started = 0.2, asyncio.get_running_loop().time()
    while True:
        try:
            with Session(engine, expire_on_commit=False) as session:
                row = session.get(Delivery, delivery_id)
                if row is None:
                    return None
                record_outcome(session, row, outcome, now=now)
                session.commit()
                return row
        except Exception as exc:
            waited = asyncio.get_running_loop().time() - started
            if not is_outage(exc) or waited > OUTAGE_LIMIT:
                raise
            log.warning(
                "outcome of delivery %s not recorded yet: %s", delivery_id, outage_text(exc)
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


# --- one dispatcher per event loop ---------------------------------------------------------

_DISPATCHERS: dict[asyncio.AbstractEventLoop, Dispatcher] = {}
_LOCK = threading.Lock()


async def _dispatcher() -> Dispatcher:
    loop = asyncio.get_running_loop()
    settings = get_settings()
    current = _DISPATCHERS.get(loop)
    if current is not None and current.settings is not settings:
        await current.aclose()  # settings changed (tests, reload): rebuild the senders
        current = None
    if current is None:
        current = Dispatcher(settings)
        _DISPATCHERS[loop] = current
    return current


async def deliver_async(
    delivery_id: int, *, now: datetime, engine: Engine | None = None
) -> Delivery | None:
    """Deliver one row with the senders of the running event loop."""
    dispatcher = await _dispatcher()
    return await dispatcher.deliver(engine or get_engine(), delivery_id, now=now)


BATCH = 200


async def deliver_many_async(
    ids: Iterable[int],
    *,
    now: datetime,
    engine: Engine | None = None,
    concurrency: int = 0,
    batch: int = BATCH,
) -> list[Delivery | None]:
    """Deliver many rows as one stream (`comms.delivery_batch`: claim and render a batch at a
    time, send with `concurrency` senders at once, record in bulk).

    Returns, for each id in order, the delivered row or None when it was not ours to send.
    """
    dispatcher = await _dispatcher()
    eng = engine or get_engine()
    wanted = list(dict.fromkeys(ids))
    limit = concurrency or dispatcher.settings.smtp_connections * 2
    rate = dispatcher.settings.smtp_rate_per_second
    if rate > 0:  # never claim more than can be sent well within the lease
        batch = max(1, min(batch, int(rate * 60)))

    async def send(row: Delivery) -> SendOutcome:
        return await dispatcher.send(row, now)

    async with dispatcher.stream_lock:
        done = await stream_deliveries(
            eng,
            wanted,
            send,
            now=now,
            settings=dispatcher.settings,
            concurrency=limit,
            batch=batch,
        )
    out: list[Delivery | None] = []
    seen: set[int] = set()
    for i in ids:
        out.append(done.get(i) if i not in seen else None)
        seen.add(i)
    return out


async def aclose_senders() -> None:
    """Close the senders of the running loop (their SMTP connections)."""
    current = _DISPATCHERS.pop(asyncio.get_running_loop(), None)
    if current is not None:
        await current.aclose()


# --- the synchronous face: one background loop per process ---------------------------------


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="comms-dispatch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("sync deliver() called on the dispatch loop; await deliver_async()")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def stop(self) -> None:
        try:
            self.run(aclose_senders())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


_THREAD: _LoopThread | None = None


def _loop_thread() -> _LoopThread:
    global _THREAD
    with _LOCK:
        if _THREAD is None or not _THREAD.thread.is_alive():
            _THREAD = _LoopThread()
        return _THREAD


def deliver(delivery_id: int, *, now: datetime, engine: Engine | None = None) -> Delivery | None:
    """Deliver one row (sync; safe from any thread). None when it was not ours to send."""
    return _loop_thread().run(deliver_async(delivery_id, now=now, engine=engine))


def deliver_many(
    ids: Iterable[int], *, now: datetime, engine: Engine | None = None, concurrency: int = 0
) -> list[Delivery | None]:
    """Deliver many rows (sync) through the shared senders."""
    ids = list(ids)
    return _loop_thread().run(
        deliver_many_async(ids, now=now, engine=engine, concurrency=concurrency)
    )


def shutdown() -> None:
    """Close the shared senders and stop the background loop (tests, process exit)."""
    global _THREAD
    with _LOCK:
        thread, _THREAD = _THREAD, None
    if thread is not None and thread.thread.is_alive():
        thread.stop()


atexit.register(shutdown)
