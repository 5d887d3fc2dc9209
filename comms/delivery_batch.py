"""Many outbox rows at once: claim in one statement, render, send as a stream, record in bulk.

`stream_deliveries` keeps every connection of a channel busy from the first row to the last.
One producer claims the rows a batch at a time, loads the template contexts of the batch's
deferred rows in a few queries (`comms.context`) and renders them a row at a time,
committing each small group before any of its rows is handed to a sender (the stored content
is what leaves). Senders take rows as they come; their outcomes are recorded in the
transaction that stores the next rendered group, and at the latest every `RECORD_SECONDS` and
every `RECORD_EVERY` sends, sent rows with one executemany. A sender does not take a new row
while `RECORD_EVERY` outcomes wait or while the last write failed.

A database outage: every write (claims, rendered content, outcomes, lease renewals) is
retried with backoff until it succeeds (`OUTAGE_LIMIT` at most); meanwhile the outcomes stay
in memory, nothing new is handed to a sender, and the server's replies are in the journal
(`comms.outbox_journal`). The leases of the rows the stream holds are renewed every
`HEARTBEAT_SECONDS`; a row whose lease has less than a whole send left is not sent.

The servers' replies come first. The database work (claims, contexts, writes) runs on a
thread of its own (`_DatabaseThread`), and the producer renders each row only once the
senders have answered every reply that had arrived (`comms.loop_yield.after_others`), so
neither a batch's claim nor the next row's render leaves a server waiting for its next
command.

The stream ends only once every sender has its reply and the outcomes left are written
(a cancelled stream too, then raising its cancellation; a failed one keeps its journal for
the sweep); rows handed out but not yet sent when it stops early are left `sending`.

A crash before an outcome is recorded leaves the row `sending` until its lease runs out; the
sweep marks it `sent` from the journal, or re-queues it: it is sent again only if the server
had accepted it and its reply was not yet read: the window documented in `comms.outbox`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from comms.channels import SendOutcome
from comms.deferred import Contexts, pending_contexts, rendered_values, store_rendered
from comms.executemany import update_by_id
from comms.loop_yield import after_others
from comms.models import Delivery, DeliveryStatus
from comms.outbox import DONE, SEND_LEASE, apply_outcome, done_changes, send_lease, suppress
from comms.outbox_journal import Journal
from comms.redact import redact
from comms.settings import Settings
from comms.templating import TemplateError
from comms.timeutil import utcnow

log = logging.getLogger(__name__)

RENDER_GROUP = 16  # rows rendered and committed together before they go to the senders
RECORD_EVERY = 32  # at most this many outcomes wait to be recorded: the senders wait
RECORD_SECONDS = 1.0  # outcomes are recorded at least this often
HEARTBEAT_SECONDS = 5.0  # the leases of the rows held are renewed this often
OUTAGE_LIMIT = 600.0  # seconds of failed database writes before the stream gives up
LEASE_MARGIN = 5.0  # a row is sent only while its lease has a whole send and this left
Send = Callable[[Delivery], Awaitable[SendOutcome]]
T = TypeVar("T")


def claim_many(
    session: Session,
    ids: Sequence[int],
    *,
    now: datetime,
    lease: timedelta = SEND_LEASE,
    wall: datetime | None = None,
) -> list[Delivery]:
    """`comms.outbox.claim` for many rows at once: queued and due → sending, with a lease.
    Returns the rows this call claimed, by id (others are someone else's or not due);
    commits, so no transaction (and no SQLite lock) is held while sending.

    The lease's end doubles as the claim's mark: the same call repeated with the same `wall`
    (its commit was lost with the connection) returns the rows the first one claimed."""
    if not ids:
        return []
    until = (wall or utcnow()) + lease
    queued = (col(Delivery.status) == DeliveryStatus.QUEUED.value) & (
        col(Delivery.next_attempt_at).is_(None) | (col(Delivery.next_attempt_at) <= now)
    )
    ours = (col(Delivery.status) == DeliveryStatus.SENDING.value) & (
        col(Delivery.lease_until) == until
    )
    rows = list(
        session.scalars(
            update(Delivery)
            .where(col(Delivery.id).in_(list(ids)), queued | ours)
            .values(
                status=DeliveryStatus.SENDING.value,
                lease_until=until,
                attempts=Delivery.attempts + 1,
                updated_at=now,
            )
            .returning(Delivery)
            .execution_options(populate_existing=True)
        ).all()
    )
    session.commit()
    rows.sort(key=lambda r: r.id or 0)
    return rows


def render_claimed(
    session: Session, rows: list[Delivery], *, settings: Settings
) -> tuple[list[Delivery], list[tuple[Delivery, SendOutcome]]]:
    """Render the claimed rows whose content waits for the send (`comms.deferred`) and commit
    it. Returns (rows to send, rows that cannot be rendered with their `failed` outcome)."""
    contexts = pending_contexts(session, rows, settings=settings)
    ready: list[Delivery] = []
    failed: list[tuple[Delivery, SendOutcome]] = []
    rendered: list[tuple[Delivery, dict[str, Any]]] = []
    for row in rows:
        outcome = _render(row, contexts, settings, rendered)
        if outcome is not None:
            failed.append((row, outcome))
        else:
            ready.append(row)
    if rendered:
        store_rendered(session, rendered)
        session.commit()
    return ready, failed


def _render(
    row: Delivery,
    contexts: Contexts,
    settings: Settings,
    rendered: list[tuple[Delivery, dict[str, Any]]],
) -> SendOutcome | None:
    """Render `row` if it waits for it, adding its values to `rendered`; the `failed`
    outcome of a row that cannot be rendered, else None."""
    context = contexts.get(row.id or 0)
    if context is None:  # rendered when it was queued
        return None
    try:
        if isinstance(context, LookupError):
            raise context
        rendered.append((row, rendered_values(row, context(), settings=settings)))
    except (TemplateError, LookupError) as exc:
        log.warning("delivery %s cannot be rendered: %s", row.id, exc)
        error = f"cannot render {row.template}: {exc}"
        return SendOutcome("failed", error=error, error_code="render_error")
    return None


def record_outcome(
    session: Session, row: Delivery, outcome: SendOutcome, *, now: datetime
) -> Delivery:
    """apply_outcome, plus the suppression list for a bounced address.

    A failure is recorded only on a row still `sending`: one that is not has its outcome
    already (a write repeated after its first commit went through unseen: a dropped
    connection, a cancelled wait) or was re-queued by the sweep, and telling the workflow
    twice would add a second failure event."""
    if outcome.status not in DONE and row.status != DeliveryStatus.SENDING.value:
        log.info(
            "delivery %s is %s: its %s outcome is not recorded", row.id, row.status, outcome.status
        )
        return row
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


def done_rows(
    items: Sequence[tuple[Delivery, SendOutcome]], *, now: datetime
) -> tuple[list[dict[str, Any]], list[tuple[int, SendOutcome]]]:
    """Split outcomes into the column values of the rows that are done (sent: one
    executemany) and the others by id (`record_outcomes` loads and records them one by one)."""
    done: list[dict[str, Any]] = []
    others: list[tuple[int, SendOutcome]] = []
    for row, outcome in items:
        if outcome.status in DONE:
            done.append({"id": row.id, **done_changes(row, outcome, now=now)})
        else:
            others.append((row.id or 0, outcome))
    return done, others


def record_outcomes(
    session: Session,
    done: Sequence[dict[str, Any]],
    others: Sequence[tuple[int, SendOutcome]],
    *,
    now: datetime,
) -> list[Delivery]:
    """Record many outcomes (`done_rows`): the rows that are done in one executemany, the rest
    loaded and recorded one by one (`record_outcome`: retries, failures told to the workflow,
    suppressions). Only ids and values go in, so a failed attempt can be repeated as it is.
    Returns the rows loaded."""
    if done:
        update_by_id(session.connection(), Delivery.__table__, done)  # type: ignore[attr-defined]
    loaded: list[Delivery] = []
    for delivery_id, outcome in others:
        row = session.get(Delivery, delivery_id, populate_existing=True)
        if row is not None:
            loaded.append(record_outcome(session, row, outcome, now=now))
    return loaded


def outage_text(exc: BaseException) -> str:
    """The driver's first line, without the statement and its parameters (message content)."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0] if lines else ''}"


def is_outage(exc: BaseException) -> bool:
    """A database error that waiting can cure: refused, dropped, locked."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class _DatabaseThread:
    """The stream's database work, on one thread of its own with one connection: the event
    loop thread only renders (in slices, `comms.loop_yield`) and talks to the servers, so a
    batch's claim or a group's write never holds up the replies the servers are waiting for
    (SQLite and psycopg release the interpreter lock while the database works). A call that
    fails drops the connection; the next one opens another."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery-db")
        self.conn: Connection | None = None

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self.conn is None:
            self.conn = self.engine.connect()
        try:
            return fn(self.conn, *args)
        except BaseException:
            self._close()
            raise

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._call, fn, args)

    def _close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a dropped connection may not even close
                log.debug("closing a failed database connection", exc_info=True)

    async def aclose(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self._close)
        finally:
            self.pool.shutdown(wait=False)


class _Stream:
    """One `stream_deliveries` call: its queue, its unrecorded outcomes and its writes."""

    def __init__(
        self, engine: Engine, send: Send, *, now: datetime, settings: Settings, concurrency: int
    ) -> None:
        self.send = send
        self.now = now
        self.settings = settings
        self.lease = send_lease(settings.smtp_timeout)
        # a row goes to a sender only while its lease has a whole send left
        self.usable = self.lease.total_seconds() - settings.smtp_timeout - LEASE_MARGIN
        self.concurrency = max(1, concurrency)
        self.db = _DatabaseThread(engine)
        self.journal = Journal(settings.journal_dir)
        self.unrecorded: list[tuple[Delivery, SendOutcome]] = []
        self.handled: dict[int, Delivery] = {}
        self.held: dict[int, float] = {}  # rows claimed, not recorded: monotonic lease time
        self.stale: list[int] = []
        self.lock = asyncio.Lock()
        self.failing = False  # the last database call failed: senders wait
        self.gave_up: BaseException | None = None
        self.stopped = False  # a sender failed: claim nothing more
        self.last_beat = time.monotonic()

    # --- the database thread's side ---

    def _claim(
        self, conn: Connection, chunk: Sequence[int], wall: datetime
    ) -> tuple[list[Delivery], Contexts]:
        with Session(bind=conn, expire_on_commit=False) as session:
            rows = claim_many(session, chunk, now=self.now, lease=self.lease, wall=wall)
            contexts = pending_contexts(session, rows, settings=self.settings)
            session.commit()
            session.expunge_all()  # the loop renders and sends them; `_write` records them
        return rows, contexts

    def _write(
        self,
        conn: Connection,
        rendered: list[tuple[Delivery, dict[str, Any]]],
        done: list[dict[str, Any]],
        others: list[tuple[int, SendOutcome]],
        renew: list[int],
    ) -> tuple[list[Delivery], float]:
        """Store rendered content, record outcomes and renew leases, in one transaction.
        Returns the rows loaded and the monotonic time the leases were renewed from."""
        renewed = time.monotonic()
        with Session(bind=conn, expire_on_commit=False) as session:
            if rendered:
                store_rendered(session, rendered)
            loaded = record_outcomes(session, done, others, now=self.now)
            if renew:
                session.execute(
                    update(Delivery)
                    .where(
                        col(Delivery.id).in_(renew),
                        col(Delivery.status) == DeliveryStatus.SENDING.value,
                    )
                    .values(lease_until=utcnow() + self.lease)
                    .execution_options(synchronize_session=False)
                )
            session.commit()
            session.expunge_all()
        return loaded, renewed

    # --- the event loop's side ---

    async def _retrying(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn` on the database thread, retried with backoff while the database is out."""
        delay = 0.2
        started: float | None = None
        while True:
            try:
                result = await self.db.run(fn, *args)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                if started is None:
                    started = time.monotonic()
                    log.warning(
                        "database unavailable; outcomes kept, sending paused: %s", outage_text(exc)
                    )
                self.failing = True
                if time.monotonic() - started > OUTAGE_LIMIT:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if started is not None:
                log.warning("database back after %.1f s", time.monotonic() - started)
            self.failing = False
            return result

    async def claim(self, chunk: Sequence[int]) -> tuple[list[Delivery], Contexts]:
        asked = time.monotonic()
        rows, contexts = await self._retrying(self._claim, chunk, utcnow())
        self.held.update((row.id or 0, asked) for row in rows)
        return rows, contexts

    async def record(self, rendered: list[tuple[Delivery, dict[str, Any]]] | None = None) -> None:
        """Store `rendered`, record the outcomes waiting and, when due, renew the leases held.
        The outcomes stay in `unrecorded` until they are written."""
        async with self.lock:
            if self.gave_up is not None:
                raise self.gave_up
            items = list(self.unrecorded)
            due = time.monotonic() - self.last_beat >= HEARTBEAT_SECONDS
            renew = list(self.held) if due else []
            if not (rendered or items or renew):
                return  # (nor a connection opened for nothing, after a failed claim say)
            done, others = done_rows(items, now=self.now)
            try:
                loaded, renewed = await self._retrying(
                    self._write, rendered or [], done, others, renew
                )
            except Exception as exc:  # not a cancellation: the ticker is cancelled at the
                self.gave_up = exc  # end, maybe mid-write, and the last record must still run
                raise
            del self.unrecorded[: len(items)]
            if renew:
                self.last_beat = renewed
                self.held.update((i, renewed) for i in renew if i in self.held)
            by_id = {row.id: row for row, _ in items}
            for values in done:
                row = by_id[values["id"]]
                for name, value in values.items():
                    set_committed_value(row, name, value)  # what the write stored
            for row, _ in items:
                self.held.pop(row.id or 0, None)
                self.handled[row.id or 0] = row
            self.handled.update((row.id or 0, row) for row in loaded)
            if not self.unrecorded:  # every reply in the journal is in the database
                self.journal.clear()

    async def ticker(self) -> None:
        """Record at least every `RECORD_SECONDS` (and renew the leases)."""
        while True:
            await asyncio.sleep(RECORD_SECONDS)
            await self.record()

    async def work(self, ready: asyncio.Queue[Delivery | None]) -> None:
        try:
            await self._work(ready)
        except BaseException:
            self.stopped = True
            while await ready.get() is not None:  # let the producer finish
                pass
            raise

    async def _work(self, ready: asyncio.Queue[Delivery | None]) -> None:
        while (row := await ready.get()) is not None:
            while self.failing or len(self.unrecorded) >= RECORD_EVERY:
                await self.record()  # waits for the write under way; raises when given up
                if self.failing:
                    await asyncio.sleep(0.1)
            if self.stopped:  # the stream ends early: left `sending`, the sweep re-queues it
                self.held.pop(row.id or 0, None)
                continue
            if time.monotonic() - self.held.get(row.id or 0, 0.0) > self.usable:
                # its lease was set too long ago (a stalled server, an outage): it may run
                # out during the send and the sweep hand the row to another worker. Left
                # `sending`, untouched, the sweep re-queues it once the lease has run out.
                self.held.pop(row.id or 0, None)
                self.stale.append(row.id or 0)
                continue
            outcome = await self.send(row)
            self.unrecorded.append((row, outcome))
            if outcome.status == "sent" and row.id is not None:
                self._journal(row.id, outcome)
            if len(self.unrecorded) >= RECORD_EVERY:
                await self.record()

    def _journal(self, delivery_id: int, outcome: SendOutcome) -> None:
        try:
            self.journal.add(delivery_id, outcome.provider_message_id, outcome.message_id)
        except OSError as exc:  # a full disk, say: the outcome is still recorded as usual
            log.error(
                "journal %s not written (%s): delivery %s is sent, and kept only in memory "
                "until it is recorded",
                self.journal.path,
                exc,
                delivery_id,
            )

    async def finish(
        self,
        ready: asyncio.Queue[Delivery | None],
        workers: Sequence[asyncio.Future[None]],
        ticker: asyncio.Future[None],
    ) -> None:
        """End the stream: every sender is told to stop and waited for (its reply read and
        kept), the ticker is stopped, and the outcomes left are recorded. Raises a sender's
        error after that."""
        for _ in workers:
            await ready.put(None)
        ended = await asyncio.gather(*workers, return_exceptions=True)
        ticker.cancel()  # perhaps inside a record: the record below waits for its write
        await asyncio.gather(ticker, return_exceptions=True)
        if self.gave_up is None:
            await self.record()
        for error in ended:
            if isinstance(error, BaseException):
                raise error

    async def aclose(self, *, failed: bool) -> None:
        self.journal.close(keep=failed or bool(self.unrecorded))
        await self.db.aclose()


async def to_the_end(work: Coroutine[Any, Any, None]) -> None:
    """Await `work` until it ends, even when the caller is cancelled meanwhile; the
    cancellation is raised after it (`work`'s own error first)."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():  # `work` itself was cancelled
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def stream_deliveries(
    engine: Engine,
    ids: Sequence[int],
    send: Send,
    *,
    now: datetime,
    settings: Settings,
    concurrency: int,
    batch: int,
) -> dict[int, Delivery]:
    """Claim, render, send (with `concurrency` senders at once) and record every row of `ids`
    that is ours to send. Returns the rows handled, by id."""
    stream = _Stream(engine, send, now=now, settings=settings, concurrency=concurrency)
    ready: asyncio.Queue[Delivery | None] = asyncio.Queue(maxsize=max(batch, concurrency))

    async def produce() -> None:
        for start in range(0, len(ids), batch):
            if stream.stopped:
                break
            rows, contexts = await stream.claim(ids[start : start + batch])
            for first in range(0, len(rows), RENDER_GROUP):
                group: list[Delivery] = []
                rendered: list[tuple[Delivery, dict[str, Any]]] = []
                for row in rows[first : first + RENDER_GROUP]:
                    await after_others()  # the senders answer the servers first
                    outcome = _render(row, contexts, settings, rendered)
                    if outcome is not None:
                        stream.unrecorded.append((row, outcome))
                    else:
                        group.append(row)
                await stream.record(rendered)  # stored before it is sent
                for row in group:
                    await ready.put(row)

    workers = [asyncio.ensure_future(stream.work(ready)) for _ in range(stream.concurrency)]
    ticker = asyncio.ensure_future(stream.ticker())
    failed = True
    try:
        try:
            await produce()
        except BaseException:  # cancelled, or a claim failed: hand nothing more out
            stream.stopped = True
            raise
        finally:  # runs to its end even if cancelled meanwhile: no reply or outcome dropped
            await to_the_end(stream.finish(ready, workers, ticker))
        failed = False
    finally:
        await stream.aclose(failed=failed)
    if stream.stale:
        log.warning(
            "%d deliveries not sent: their lease is too old; the sweep retries them",
            len(stream.stale),
        )
    return stream.handled
