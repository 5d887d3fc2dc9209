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

from comms.compliance import Verdict
from comms.db import is_postgres, session_scope
from comms.models import OPEN_STATES, Case, Vendor
from comms.outbox import mark_enqueued, stale_deliveries
from comms.outbox_journal import recover_journals
from comms.settings import Settings
from comms.stored_verdicts import case_candidates, roll, stored_for
from comms.verdict_inputs import chunks
from workflows.batch import BatchOutcome, advance_batch
from workflows.calendar import org_date
from workflows.campaigns import run_due_campaigns
from workflows.definitions import get_workflow
from workflows.lifecycle import (
    COMPLIANCE_TRIGGERS,
    Opening,
    latest_certificates,
    open_many,
    sync_vendor,
    wanted_case,
    wanted_for,
)
from workflows.tick_pipeline import gc_paused, is_deadlock, plan_while_writing

log = logging.getLogger(__name__)

BATCH = 1000
OPEN_BATCH = 500  # vendors read at a time by the case opener
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


def open_scan(session: Session, *, now: datetime, settings: Settings) -> int:
    """Open (or switch, or resolve) the compliance case each active vendor's stored verdict
    calls for, after the daily roll has brought the stored verdicts to today.

    Only the vendors whose stored verdict calls for a case (not compliant, or expiring within
    the workflow's horizon: two index ranges) and those with an open compliance case are read,
    a batch at a time; only those whose verdict calls for something other than what they have
    are touched."""
    day = org_date(now, settings)
    roll(session, day=day, now=now)
    horizon = get_workflow("expiring").horizon_days
    current: dict[int, list[Case]] = {}
    for case in session.exec(
        select(Case).where(
            col(Case.state).in_(OPEN_STATES),
            col(Case.campaign_id) == 0,
            col(Case.trigger).in_(COMPLIANCE_TRIGGERS),
        )
    ).all():
        current.setdefault(case.vendor_id, []).append(case)
    candidates = set(current) | set(case_candidates(session, day=day, horizon=horizon))
    opened = 0
    for chunk in chunks(candidates, OPEN_BATCH):
        vendors = {
            v.id: v
            for v in session.exec(
                select(Vendor).where(col(Vendor.id).in_(chunk), col(Vendor.active).is_(True))
            ).all()
        }
        verdicts = stored_for(session, chunk, day)
        deficient = [
            v for v, verdict in verdicts.items() if verdict.status.value == "non_compliant"
        ]
        latest = latest_certificates(session, deficient)
        openings: list[Opening] = []
        for vendor_id in chunk:
            vendor = vendors.get(vendor_id)
            verdict = verdicts.get(vendor_id)
            if vendor is None or verdict is None:  # inactive: its open cases stay as they are
                continue
            have = current.get(vendor_id, [])
            if have:  # switch or resolve: one vendor at a time
                opened += _open_one(
                    session, vendor, verdict, have, now=now, settings=settings, horizon=horizon
                )
                continue
            if _calls_for_nothing(verdict, horizon):
                continue
            wanted = wanted_for(
                verdict, horizon_days=horizon, latest_certificate=latest.get(vendor_id)
            )
            if wanted is not None:
                reason = f"scheduler scan; verdict is {verdict.status.value}"
                openings.append(Opening(vendor, wanted, reason))
        opened += len(open_many(session, openings, now=now, settings=settings))
    return opened


def _open_one(
    session: Session,
    vendor: Vendor,
    verdict: Verdict,
    have: list[Case],
    *,
    now: datetime,
    settings: Settings,
    horizon: int,
) -> int:
    if not have and _calls_for_nothing(verdict, horizon):
        return 0
    wanted = wanted_case(session, vendor, verdict, horizon_days=horizon)
    if (
        wanted is not None
        and len(have) == 1
        and have[0].trigger == wanted[0]
        and (wanted[0] == "missing" or have[0].data.get("key") == wanted[2])
    ):
        return 0
    after = sync_vendor(
        session, vendor, verdict, now=now, reason="scheduler scan", settings=settings
    )
    return sum(1 for c in after if c not in have)


def _calls_for_nothing(verdict: Verdict, horizon: int) -> bool:
    nxt = verdict.next_expiration
    return verdict.status.value == "compliant" and (
        nxt is None or (nxt - verdict.as_of).days > horizon
    )


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
