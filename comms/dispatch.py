"""Deliver outbox rows: claim → channel sender → apply the outcome.

Senders (and so the SMTP connection pool) live as long as the process: the synchronous
`deliver` used by dramatiq actors runs every send on one dedicated event-loop thread, so all
actor threads share one pool. `deliver_async` uses senders bound to the calling event loop.

A row that is not `queued` (already sent, being sent by someone else, or not yet due) is left
alone and None is returned. A row planned without its content (the workflow scheduler's) is
rendered after the claim and stored before the send (`comms.deferred`). The session's
transaction is closed before the send is awaited, so a slow server never holds a database
lock. A crash between the claim and the send leaves the row `sending` until its lease expires
and the sweep re-queues it: one send. The only window for a repeated send is the one
documented in comms.outbox.
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

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.channels import ChannelSender, SendOutcome, sender_factory
from comms.db import get_engine
from comms.deferred import is_pending, render_pending
from comms.models import Delivery, DeliveryStatus
from comms.outbox import SEND_LEASE, apply_outcome, claim, suppress
from comms.redact import redact
from comms.settings import Settings, get_settings
from comms.templating import TemplateError

log = logging.getLogger(__name__)
T = TypeVar("T")


class Dispatcher:
    """The senders of one event loop, built from one Settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.senders: dict[str, ChannelSender] = {}

    def sender(self, channel: str) -> ChannelSender:
        found = self.senders.get(channel)
        if found is None:
            found = sender_factory(channel)(self.settings)
            self.senders[channel] = found
        return found

    async def aclose(self) -> None:
        senders, self.senders = list(self.senders.values()), {}
        for sender in senders:
            try:
                await sender.aclose()
            except Exception:
                log.exception("closing the %s sender failed", sender.channel)

    async def _send(self, row: Delivery, now: datetime) -> SendOutcome:
        try:
            return await self.sender(row.channel).send(row, now=now)
        except Exception as exc:  # a sender bug must not leave the row in `sending`
            log.exception("sender %s failed on delivery %s", row.channel, row.id)
            return SendOutcome(
                status="retry", error=f"{type(exc).__name__}: {exc}", error_code="sender_error"
            )

    async def deliver_batch(
        self, engine: Engine, ids: list[int], *, now: datetime, concurrency: int
    ) -> dict[int, Delivery]:
        """Claim many rows in one statement, send them concurrently, record the outcomes in
        one transaction. A crash before that commit repeats the sends of this batch only
        (the documented window, as wide as one batch)."""
        with Session(engine, expire_on_commit=False) as session:
            rows = claim_many(session, ids, now=now)
            rows, unrenderable = render_claimed(session, rows, settings=self.settings)
            limit = asyncio.Semaphore(concurrency)

            async def one(row: Delivery) -> SendOutcome:
                async with limit:
                    return await self._send(row, now)

            outcomes = await asyncio.gather(*(one(r) for r in rows))
            for row, outcome in [*zip(rows, outcomes, strict=True), *unrenderable]:
                record_outcome(session, row, outcome, now=now)
            session.commit()
            rows.extend(row for row, _ in unrenderable)
        return {row.id: row for row in rows if row.id is not None}

    async def deliver(self, engine: Engine, delivery_id: int, *, now: datetime) -> Delivery | None:
        with Session(engine, expire_on_commit=False) as session:
            row = claim(session, delivery_id, now=now)
            if row is None:
                return None
            session.commit()  # end the read transaction before awaiting the network
            ready, unrenderable = render_claimed(session, [row], settings=self.settings)
            outcome = unrenderable[0][1] if unrenderable else await self._send(ready[0], now)
            record_outcome(session, row, outcome, now=now)
            session.commit()
            return row


def claim_many(session: Session, ids: list[int], *, now: datetime) -> list[Delivery]:
    """`comms.outbox.claim` for many rows at once: queued and due → sending, with a lease.
    Returns the rows this call claimed (others are someone else's or not due); commits."""
    if not ids:
        return []
    result = session.connection().execute(
        update(Delivery)
        .where(
            col(Delivery.id).in_(ids),
            col(Delivery.status) == DeliveryStatus.QUEUED.value,
            (col(Delivery.next_attempt_at).is_(None)) | (col(Delivery.next_attempt_at) <= now),
        )
        .values(
            status=DeliveryStatus.SENDING.value,
            lease_until=now + SEND_LEASE,
            attempts=Delivery.attempts + 1,
            updated_at=now,
        )
        .returning(col(Delivery.id))
    )
    claimed = [r[0] for r in result]
    session.commit()
    if not claimed:
        return []
    rows = list(
        session.exec(
            select(Delivery)
            .where(col(Delivery.id).in_(claimed))
            .order_by(col(Delivery.id))
            .execution_options(populate_existing=True)
        ).all()
    )
    session.commit()  # no transaction (and no SQLite lock) is held while sending
    return rows


def render_claimed(
    session: Session, rows: list[Delivery], *, settings: Settings
) -> tuple[list[Delivery], list[tuple[Delivery, SendOutcome]]]:
    """Render the claimed rows whose content waits for the send (`comms.deferred`) and commit
    it, so the stored content is what leaves. Returns (rows to send, rows that cannot be
    rendered with their `failed` outcome)."""
    ready: list[Delivery] = []
    failed: list[tuple[Delivery, SendOutcome]] = []
    pending = False
    for row in rows:
        if not is_pending(row):
            ready.append(row)
            continue
        pending = True
        try:
            render_pending(session, row, settings=settings)
        except (TemplateError, LookupError) as exc:
            log.warning("delivery %s cannot be rendered: %s", row.id, exc)
            error = f"cannot render {row.template}: {exc}"
            failed.append((row, SendOutcome("failed", error=error, error_code="render_error")))
            continue
        session.add(row)
        ready.append(row)
    if pending:
        session.commit()  # stored before the send; no transaction is held while sending
    return ready, failed


def record_outcome(
    session: Session, row: Delivery, outcome: SendOutcome, *, now: datetime
) -> Delivery:
    """apply_outcome, plus the suppression list for a bounced address."""
    apply_outcome(session, row, outcome, now=now)
    if outcome.status == "bounced":
        suppress(
            session,
            row.channel,
            row.recipient,
            reason=outcome.error or "bounced",
            now=now,
            source=f"delivery:{row.id}",
        )
        log.info("delivery %s bounced; %s suppressed", row.id, redact(row.recipient))
    return row


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
    """Deliver many rows in batches (claim in bulk, send concurrently, record in bulk).

    Returns, for each id in order, the delivered row or None when it was not ours to send.
    """
    dispatcher = await _dispatcher()
    eng = engine or get_engine()
    wanted = list(dict.fromkeys(ids))
    limit = concurrency or dispatcher.settings.smtp_connections * 2
    done: dict[int, Delivery] = {}
    for start in range(0, len(wanted), batch):
        chunk = wanted[start : start + batch]
        done.update(await dispatcher.deliver_batch(eng, chunk, now=now, concurrency=limit))
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
