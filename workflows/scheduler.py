"""One scheduler pass (`comms tick`): open the cases verdicts call for, claim the due cases,
advance each, enqueue a delivery message per new outbox row, and sweep stuck deliveries.

Claiming: on PostgreSQL, `SELECT … FOR UPDATE SKIP LOCKED` over the `next_action_at` index, in
batches, each batch advanced and committed in its own transaction, so several schedulers run at
once without touching the same case. On SQLite the engine begins every transaction with
`BEGIN IMMEDIATE`, so the batch transaction is the single writer. A batch is planned in bulk
(`workflows.batch`): a few queries load what its cases need, the rules run in memory, and the
delivery rows, events and case updates are written with one statement each. Closed and paused
cases have no `next_action_at`, so the (partial) index holds only open cases, in the claim's
order, and the cost follows the due rows, not the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from comms.db import is_postgres, session_scope
from comms.models import Case
from comms.outbox import mark_enqueued, stale_deliveries
from comms.outbox_journal import recover_journals
from comms.settings import Settings
from workflows.batch import BatchOutcome, advance_batch
from workflows.campaigns import run_due_campaigns
from workflows.case_opener import open_scan
from workflows.tick_pipeline import gc_paused, is_deadlock, plan_while_writing

log = logging.getLogger(__name__)

BATCH = 1000
PIPELINE = True  # PostgreSQL: plan the next batch while the previous one is written
DEADLOCK_RETRIES = 3
Enqueue = Callable[[int], None]


@dataclass
class TickResult:
    opened: int = 0
    advanced: int = 0  # cases claimed and advanced
    one_by_one: int = 0  # of them, the cases the bulk planner handed to `advance_case`
    steps: int = 0  # steps run (a case may run several, or none when it resolves)
    deliveries: list[int] = field(default_factory=list)
    swept: list[int] = field(default_factory=list)


def claim_due(session: Session, *, now: datetime, limit: int = BATCH) -> list[Case]:
    query = (
        select(Case)
        .where(col(Case.next_action_at) <= now, col(Case.state).in_(("active", "waiting")))
        .order_by(col(Case.next_action_at), col(Case.id))
        .limit(limit)
    )
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.exec(query).all())


def advance_due(
    engine: Engine,
    *,
    now: datetime,
    settings: Settings,
    enqueue: Enqueue | None,
    batch: int = BATCH,
    result: TickResult,
    bulk: bool = True,
    pipeline: bool = PIPELINE,
) -> None:
    """Claim and advance every due case, a batch per transaction. `bulk=False` advances each
    case through `workflows.engine.advance_case` (the reference path). Deliveries are
    enqueued batch by batch, as soon as their batch has committed.

    On PostgreSQL with `pipeline`, the next batch is claimed and planned while a writer
    thread writes and commits the one before (`workflows.tick_pipeline`)."""
    if pipeline and is_postgres(engine):

        def collect(out: BatchOutcome) -> None:
            _collect(out, result, enqueue)

        if not plan_while_writing(
            engine, now=now, settings=settings, batch=batch, bulk=bulk, collect=collect
        ):
            return
        # a batch was rolled back (deadlock): its cases are due still, claimed again below
    while True:
        out = _run_batch(engine, now=now, settings=settings, batch=batch, bulk=bulk)
        _collect(out, result, enqueue)
        if out.advanced < batch:
            return


def _run_batch(
    engine: Engine, *, now: datetime, settings: Settings, batch: int, bulk: bool
) -> BatchOutcome:
    """One batch in its own transaction; retried when PostgreSQL picks it as a deadlock
    victim (another scheduler holds a case this one's vendor needs, and vice versa)."""
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            with gc_paused(), session_scope(engine) as session:
                return advance_batch(session, now=now, settings=settings, limit=batch, bulk=bulk)
        except DBAPIError as exc:
            if not is_deadlock(exc) or attempt == DEADLOCK_RETRIES:
                raise
            log.info("batch rolled back (%s); claiming again", exc.orig)
    raise AssertionError("unreachable")


def _collect(out: BatchOutcome, result: TickResult, enqueue: Enqueue | None) -> None:
    """A committed batch: count it, and enqueue its deliveries (the workers can see them)."""
    result.advanced += out.advanced
    result.one_by_one += out.one_by_one
    result.steps += out.steps
    result.deliveries.extend(out.deliveries)
    if enqueue is not None:
        for delivery_id in out.deliveries:
            enqueue(delivery_id)


def sweep(
    engine: Engine, *, now: datetime, enqueue: Enqueue | None, exclude: set[int]
) -> list[int]:
    """Re-enqueue the orphaned deliveries (`comms.outbox.stale_deliveries`): stuck past their
    lease, or queued and due with no message on its way."""
    with session_scope(engine) as session:
        ids = [i for i in stale_deliveries(session, now=now) if i not in exclude]
        if enqueue is not None:
            mark_enqueued(session, ids)
    if enqueue is not None:
        for delivery_id in ids:
            enqueue(delivery_id)
    return ids


def tick(
    engine: Engine, *, now: datetime, settings: Settings, enqueue: Enqueue | None, scan: bool = True
) -> TickResult:
    """One pass. `enqueue` is called for each delivery to send (None: plan only)."""
    result = TickResult()
    if scan:
        with session_scope(engine) as session:
            result.opened = open_scan(session, now=now, settings=settings)
            result.opened += run_due_campaigns(session, now=now, settings=settings)
    advance_due(engine, now=now, settings=settings, enqueue=enqueue, result=result)
    recover_journals(engine, settings.journal_dir, now=now)  # before anything is re-queued
    result.swept = sweep(engine, now=now, enqueue=enqueue, exclude=set(result.deliveries))
    log.info(
        "tick %s: opened %d, advanced %d, deliveries %d, swept %d",
        now.isoformat(),
        result.opened,
        result.advanced,
        len(result.deliveries),
        len(result.swept),
    )
    return result


__all__ = ["TickResult", "claim_due", "is_postgres", "open_scan", "sweep", "tick"]
