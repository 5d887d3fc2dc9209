"""Many outbox rows at once: claim in one statement, render, send as a stream, record in bulk.

`stream_deliveries` keeps every connection of a channel busy from the first row to the last.
One producer claims the rows a batch at a time, loads the template contexts of the batch's
deferred rows in a few queries (`comms.context`) and renders them a row at a time,
committing each small group before any of its rows is handed to a sender (the stored content
is what leaves). Senders take rows as they come; their outcomes are recorded in the
transaction that stores the next rendered group (by the senders themselves every
`RECORD_EVERY` sends while the producer waits or is done), sent rows with one executemany.

The servers' replies come first. The database work (claims, contexts, writes) runs on a
thread of its own (`_DatabaseThread`), and the producer renders each row only once the
senders have answered every reply that had arrived (`comms.loop_yield.after_others`), so
neither a batch's claim nor the next row's render leaves a server waiting for its next
command. A row claimed longer ago than most of its lease is not sent (`LEASE_USABLE`).

A crash before an outcome is recorded leaves the row `sending` until its lease runs out; the
sweep re-queues it, and it is sent again only if the server had already accepted it: the
window documented in `comms.outbox`, as wide as the rows sent but not yet recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from comms.channels import SendOutcome
from comms.deferred import Contexts, pending_contexts, rendered_values, store_rendered
from comms.executemany import update_by_id
from comms.loop_yield import after_others
from comms.models import Delivery, DeliveryStatus
from comms.outbox import DONE, SEND_LEASE, apply_outcome, done_changes, suppress
from comms.redact import redact
from comms.settings import Settings
from comms.templating import TemplateError

log = logging.getLogger(__name__)

RENDER_GROUP = 16  # rows rendered and committed together before they go to the senders
# a claimed row is sent only within this part of its lease (`comms.outbox.SEND_LEASE`), so a
# send ends (COMMS_SMTP_TIMEOUT at most) before the sweep could give the row to someone else
LEASE_USABLE = SEND_LEASE.total_seconds() * 0.8
RECORD_EVERY = 128  # outcomes recorded by the senders when the producer does not
Send = Callable[[Delivery], Awaitable[SendOutcome]]
T = TypeVar("T")


def claim_many(session: Session, ids: Sequence[int], *, now: datetime) -> list[Delivery]:
    """`comms.outbox.claim` for many rows at once: queued and due → sending, with a lease.
    Returns the rows this call claimed, by id (others are someone else's or not due);
    commits, so no transaction (and no SQLite lock) is held while sending."""
    if not ids:
        return []
    rows = list(
        session.scalars(
            update(Delivery)
            .where(
                col(Delivery.id).in_(list(ids)),
                col(Delivery.status) == DeliveryStatus.QUEUED.value,
                col(Delivery.next_attempt_at).is_(None) | (col(Delivery.next_attempt_at) <= now),
            )
            .values(
                status=DeliveryStatus.SENDING.value,
                lease_until=now + SEND_LEASE,
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


def record_outcomes(
    session: Session, items: Sequence[tuple[Delivery, SendOutcome]], *, now: datetime
) -> None:
    """Record many outcomes: the rows that are done (sent) in one executemany, the rest one
    by one (`record_outcome`: retries, failures told to the workflow, suppressions)."""
    done: list[dict[str, object]] = []
    for row, outcome in items:
        if outcome.status not in DONE:
            record_outcome(session, row, outcome, now=now)
            continue
        changes = done_changes(row, outcome, now=now)
        done.append({"id": row.id, **changes})
        for name, value in changes.items():
            set_committed_value(row, name, value)  # what the statement below stores
    if done:
        update_by_id(session.connection(), Delivery.__table__, done)  # type: ignore[attr-defined]


class _DatabaseThread:
    """The stream's database work, on one thread of its own with one connection: the event
    loop thread only renders (in slices, `comms.loop_yield`) and talks to the servers, so a
    batch's claim or a group's write never holds up the replies the servers are waiting for
    (SQLite and psycopg release the interpreter lock while the database works)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery-db")
        self.conn: Connection | None = None

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self.conn is None:
            self.conn = self.engine.connect()
        return fn(self.conn, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._call, fn, args)

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    async def aclose(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self._close)
        finally:
            self.pool.shutdown(wait=False)


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
    ready: asyncio.Queue[Delivery | None] = asyncio.Queue(maxsize=max(batch, concurrency))
    unrecorded: list[tuple[Delivery, SendOutcome]] = []
    handled: dict[int, Delivery] = {}
    claimed_at: dict[int, float] = {}  # monotonic time of each row's claim
    stale: list[int] = []
    db = _DatabaseThread(engine)

    def claim(conn: Connection, chunk: Sequence[int]) -> tuple[list[Delivery], Contexts]:
        """(database thread) Claim a batch and load its rows' template contexts."""
        with Session(bind=conn, expire_on_commit=False) as session:
            rows = claim_many(session, chunk, now=now)
            contexts = pending_contexts(session, rows, settings=settings)
            session.commit()
            session.expunge_all()  # the loop renders and sends them; `write` records them
        return rows, contexts

    def write(
        conn: Connection,
        rendered: list[tuple[Delivery, dict[str, Any]]],
        items: list[tuple[Delivery, SendOutcome]],
    ) -> None:
        """(database thread) Store rendered content and record outcomes, in one transaction."""
        with Session(bind=conn, expire_on_commit=False) as session:
            if rendered:
                store_rendered(session, rendered)
            if items:
                record_outcomes(session, items, now=now)
            session.commit()
            session.expunge_all()

    async def record(rendered: list[tuple[Delivery, dict[str, Any]]]) -> None:
        """Store `rendered` and record the outcomes so far (taken now, so none is lost to a
        sender that finishes meanwhile)."""
        items = list(unrecorded)
        unrecorded.clear()
        if not (rendered or items):
            return  # (nor a connection opened for nothing, after a failed claim say)
        await db.run(write, rendered, items)
        handled.update((row.id, row) for row, _ in items if row.id is not None)

    async def produce() -> None:
        for start in range(0, len(ids), batch):
            rows, contexts = await db.run(claim, ids[start : start + batch])
            claimed = time.monotonic()
            claimed_at.update((row.id or 0, claimed) for row in rows)
            for first in range(0, len(rows), RENDER_GROUP):
                group: list[Delivery] = []
                rendered: list[tuple[Delivery, dict[str, Any]]] = []
                for row in rows[first : first + RENDER_GROUP]:
                    await after_others()  # the senders answer the servers first
                    outcome = _render(row, contexts, settings, rendered)
                    if outcome is not None:
                        unrecorded.append((row, outcome))
                    else:
                        group.append(row)
                await record(rendered)  # stored before it is sent
                for row in group:
                    await ready.put(row)

    async def work() -> None:
        while (row := await ready.get()) is not None:
            if time.monotonic() - claimed_at.get(row.id or 0, 0.0) > LEASE_USABLE:
                # claimed too long ago (a stalled server): the lease may run out while it is
                # sent, and the sweep hand it to another worker. Left `sending`, untouched,
                # the sweep re-queues it once the lease has run out: it is sent once.
                stale.append(row.id or 0)
                continue
            unrecorded.append((row, await send(row)))
            if len(unrecorded) >= RECORD_EVERY:  # the producer is done or waiting
                await record([])

    workers = [asyncio.ensure_future(work()) for _ in range(max(1, concurrency))]
    try:
        await produce()
    finally:
        for _ in workers:
            await ready.put(None)
        try:
            await asyncio.gather(*workers)
        finally:
            try:
                await record([])
            finally:
                await db.aclose()
    if stale:
        log.warning(
            "%d deliveries not sent: claimed too long ago; the sweep retries them", len(stale)
        )
    return handled
