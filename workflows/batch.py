"""Advance a claimed batch of due cases in bulk: the scheduler's hot path, and the bulk
applier of the one planner.

A batch is claimed and what its cases read is loaded in a few queries (`workflows.batch_load`);
each case is planned in memory (`workflows.planner.plan_case`). The plans are written with one
statement each for the delivery rows, the case events and the case updates (`comms.bulk_sql`;
COPY on PostgreSQL). Content is not rendered here; the dispatcher renders each row when it
sends it (`comms.deferred`).

A case whose plan stopped for what only the per-case applier does (`plan.needs`: failures to
absorb, a compliance case to open, supersede or switch, an unknown workflow or campaign), or
whose planned idempotency key exists already, goes through `workflows.engine.advance_case` in
the same transaction. Every case of a vendor with such a case goes that way too, so the two
appliers never touch one vendor's cases.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from comms.bulk_sql import (
    DuplicateKey,
    PreparedCopy,
    PreparedUpdate,
    among,
    copy_prepared,
    insert_rows,
    is_pg,
    prepare_copy,
    prepare_copy_lists,
    prepare_update,
    reserve_ids,
    run_prepared_update,
    update_rows,
)
from comms.email.compose import SKIP_ERRORS
from comms.models import Case, DeliveryStatus
from comms.outbox_bulk import DELIVERY_COLUMNS, row_values, skip_state, suppressed_addresses
from comms.settings import Settings
from workflows.batch_load import claim_batch, load_batch, table
from workflows.calendar import org_date
from workflows.engine import advance_case
from workflows.planner import CasePlan, PlannedRow, plan_case
from workflows.records import CASE_CHANGES, CaseRow


@dataclass
class BatchOutcome:
    advanced: int = 0
    one_by_one: int = 0  # of them, the cases that went through `advance_case`
    steps: int = 0
    deliveries: list[int] = field(default_factory=list)  # new rows to send (queued)


# --- the batch -------------------------------------------------------------------------------


@dataclass
class PlannedBatch:
    """A claimed batch, planned: its transaction is still open (the cases are locked)."""

    cases: list[CaseRow]
    plans: dict[int, CasePlan]
    prepared: PreparedWrite | None = None  # the plans' rows encoded ahead (PostgreSQL)


def advance_batch(
    session: Session, *, now: datetime, settings: Settings, limit: int, bulk: bool = True
) -> BatchOutcome:
    """Claim up to `limit` due cases and advance them all, in the session's transaction.
    `bulk=False` sends every case through the per-case applier (`advance_case`).
    """
    planned = plan_batch(session, now=now, settings=settings, limit=limit, bulk=bulk)
    return write_batch(session, planned, now=now, settings=settings)


def plan_batch(
    session: Session, *, now: datetime, settings: Settings, limit: int, bulk: bool = True
) -> PlannedBatch:
    """Claim up to `limit` due cases and plan those the bulk path can (nothing written)."""
    cases, data = claim_batch(session, now=now, limit=limit)
    plans: dict[int, CasePlan] = {}
    if bulk:
        load_batch(session, cases, data, as_of=org_date(now, settings))
        for case in cases:
            plan = plan_case(case, data, now=now, settings=settings)
            if plan.needs is None:
                plans[case.id] = plan
        _drop_vendors(plans, {c.vendor_id for c in cases if c.id not in plans})
        _mark_skipped(session, plans)
    return PlannedBatch(cases, plans)


def prepare_batch(session: Session, planned: PlannedBatch, *, now: datetime) -> None:
    """Encode the batch's rows ahead of its write (PostgreSQL), when no case of it goes one by
    one (those write first and could change what the plans read)."""
    if planned.plans and len(planned.plans) == len(planned.cases):
        ordered = [planned.plans[c.id] for c in planned.cases]
        planned.prepared = prepare_write(session, ordered, now=now)


def write_batch(
    session: Session, planned: PlannedBatch, *, now: datetime, settings: Settings
) -> BatchOutcome:
    """Advance the cases the bulk path could not plan one by one, then write the plans (in
    the transaction that claimed them; the caller commits)."""
    cases, plans = planned.cases, planned.plans
    out = BatchOutcome(advanced=len(cases))
    pending = [c.id for c in cases if c.id not in plans]
    while True:
        _one_by_one(session, pending, now=now, settings=settings, out=out)
        ordered = [plans[c.id] for c in cases if c.id in plans]
        savepoint = session.begin_nested()
        try:
            clashes = write_plans(session, ordered, now=now, prepared=planned.prepared)
        except DuplicateKey as exc:
            savepoint.rollback()
            keys = [r.planned.new.idempotency_key for p in ordered for r in p.rows]
            clashes = _existing_keys(session, keys)
            if not clashes:
                raise RuntimeError(f"rows clashed, but no planned key exists: {exc}") from exc
        else:
            if not clashes:
                savepoint.commit()
                break
            savepoint.rollback()
        # a planned key exists already (or twice): those vendors' cases go one by one
        before = set(plans)
        _drop_vendors(
            plans,
            {
                p.case.vendor_id
                for p in ordered
                if any(r.planned.new.idempotency_key in clashes for r in p.rows)
            },
        )
        pending = [c.id for c in cases if c.id in before and c.id not in plans]
    for plan in ordered:
        out.steps += len(plan.steps)
        out.deliveries.extend(
            r.id for r in plan.rows if r.id is not None and r.status == DeliveryStatus.QUEUED.value
        )
    return out


def _one_by_one(
    session: Session, case_ids: list[int], *, now: datetime, settings: Settings, out: BatchOutcome
) -> None:
    out.one_by_one += len(case_ids)
    for case_id in case_ids:
        case = session.get(Case, case_id)
        assert case is not None
        adv = advance_case(session, case, now=now, settings=settings)
        out.steps += len(adv.steps)
        out.deliveries.extend(
            d.id for d in adv.deliveries if d.id is not None and d.status == "queued"
        )
    session.flush()


def _drop_vendors(plans: dict[int, CasePlan], vendor_ids: set[int]) -> None:
    """Every case of these vendors goes one by one (the two paths never share a vendor)."""
    if vendor_ids:
        for case_id in [i for i, p in plans.items() if p.case.vendor_id in vendor_ids]:
            del plans[case_id]


def _mark_skipped(session: Session, plans: dict[int, CasePlan]) -> None:
    """Rows of suppressed or unsendable recipients are `skipped`, as `create_delivery` and
    `skip_unsendable` make them."""
    rows = [r for p in plans.values() for r in p.rows]
    suppressed = suppressed_addresses(
        session, {(r.planned.new.channel, r.planned.new.recipient) for r in rows}
    )
    for row in rows:
        state = skip_state(row.planned.new, row.planned.skip_reason, suppressed, SKIP_ERRORS)
        row.status, row.error, row.error_code = state


@dataclass
class PreparedWrite:
    """PostgreSQL: what `write_plans` sends for a list of plans, encoded ahead (by the thread
    that planned them, while the database writes the batch before)."""

    case_ids: list[int]  # the plans it was prepared for, in order
    deliveries: PreparedCopy
    events: PreparedCopy
    cases: PreparedUpdate | None


def prepare_write(
    session: Session, plans: list[CasePlan], *, now: datetime
) -> PreparedWrite | None:
    """The delivery rows (ids drawn from the sequence and set on the plans), events and case
    updates of `plans`, ready to send; None when a key is planned twice (the writer finds
    out again and handles it) or on SQLite."""
    conn = session.connection()
    if not is_pg(conn):
        return None
    rows = [r for p in plans for r in p.rows]
    if _planned_twice(rows):
        return None
    ids = reserve_ids(conn, table("delivery"), len(rows))
    for r, delivery_id in zip(rows, ids, strict=True):
        r.id = delivery_id
    updates = _case_updates(plans)
    return PreparedWrite(
        case_ids=[p.case.id for p in plans],
        deliveries=prepare_copy_lists(
            table("delivery"), DELIVERY_COLUMNS, [_delivery_row(r, now) for r in rows], ids=ids
        ),
        events=prepare_copy(
            table("case_event"), [e.values(p.case.id, now) for p in plans for e in p.events]
        ),
        cases=prepare_update(conn, table("case"), updates) if updates else None,
    )


def write_plans(
    session: Session,
    plans: list[CasePlan],
    *,
    now: datetime,
    prepared: PreparedWrite | None = None,
) -> set[str]:
    """The delivery rows (their ids assigned), the events and the case updates, in one
    statement each (`comms.bulk_sql`: COPY on PostgreSQL; `prepared` when it was encoded for
    these very plans). Returns the planned keys that could not be inserted (they exist, or
    were planned twice), or raises DuplicateKey (PostgreSQL); then nothing else is written
    and the caller rolls back."""
    conn = session.connection()
    rows = [r for p in plans for r in p.rows]
    if prepared is None or prepared.case_ids != [p.case.id for p in plans]:
        twice = _planned_twice(rows)  # (a prepared write was checked when it was prepared)
        if twice:
            return twice
        prepared = prepare_write(session, plans, now=now)
    if prepared is not None:  # PostgreSQL
        copy_prepared(conn, table("delivery"), prepared.deliveries)
        copy_prepared(conn, table("case_event"), prepared.events)
        if prepared.cases is not None:
            run_prepared_update(conn, prepared.cases)
        return set()
    if rows:
        returned = insert_rows(
            conn,
            table("delivery"),
            [_delivery_values(r, now) for r in rows],
            returning=("id", "idempotency_key"),
            skip_conflicts_on="idempotency_key",
        )
        by_key = {row[1]: row[0] for row in returned}
        if len(by_key) < len(rows):
            return {k for r in rows if (k := r.planned.new.idempotency_key) not in by_key}
        for r in rows:
            r.id = by_key[r.planned.new.idempotency_key]
    insert_rows(
        conn,
        table("case_event"),
        [e.values(p.case.id, now) for p in plans for e in p.events],
    )
    update_rows(conn, table("case"), _case_updates(plans))
    return set()


def _planned_twice(rows: list[PlannedRow]) -> set[str]:
    keys = Counter(r.planned.new.idempotency_key for r in rows)
    return {k for k, n in keys.items() if n > 1}


def _case_updates(plans: list[CasePlan]) -> list[dict[str, Any]]:
    return [{"id": p.case.id, **{n: getattr(p.case, n) for n in CASE_CHANGES}} for p in plans]


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    dt, conn = table("delivery"), session.connection()
    found: set[str] = set()
    for start in range(0, len(keys), 1000):
        query = select(dt.c.idempotency_key).where(
            among(conn, dt.c.idempotency_key, keys[start : start + 1000])
        )
        found.update(k for (k,) in conn.execute(query).all())
    return found


def _delivery_row(row: PlannedRow, now: datetime) -> list[Any]:
    """A planned row's values, in the order of `DELIVERY_COLUMNS`."""
    return row_values(row.planned.new, (row.status, row.error, row.error_code), now)


def _delivery_values(row: PlannedRow, now: datetime) -> dict[str, Any]:
    return dict(zip(DELIVERY_COLUMNS, _delivery_row(row, now), strict=True))
