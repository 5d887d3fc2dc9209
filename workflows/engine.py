"""Advance one case through the ORM: the per-case applier of the one planner.

A pass plans one step at a time (`workflows.planner.plan_case`) on the case as the database
has it now (`workflows.batch_load.read_cases`), writes the plan through the session (delivery
rows by `create_delivery`, which finds a row whose key exists; events; the case's fields) and
does itself what a plan stops for: delivery failures are absorbed as workflow outcomes, and a
compliance case is opened, superseded or switched (`sync_vendor`). The scheduler sends a case
this way when the bulk applier (`workflows.batch`) cannot take it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from comms.channel_spec import channel_spec
from comms.email.compose import skip_unsendable
from comms.models import Case, CaseEvent, Delivery, Vendor
from comms.models.cases import FAILURE_KINDS
from comms.outbox import create_delivery
from comms.settings import Settings
from comms.verdicts import vendor_verdict
from workflows.batch_load import load_batch, read_cases
from workflows.calendar import org_date
from workflows.case_workflow import workflow_for
from workflows.lifecycle import sync_vendor
from workflows.outcomes import record_outcome
from workflows.planner import MAX_STEPS_PER_PASS, RECHECK, CasePlan, Needs, plan_case
from workflows.records import CASE_CHANGES

log = logging.getLogger(__name__)


@dataclass
class Advance:
    case_id: int
    deliveries: list[Delivery] = field(default_factory=list)  # the rows it created
    steps: list[str] = field(default_factory=list)


def advance_case(session: Session, case: Case, *, now: datetime, settings: Settings) -> Advance:
    """Run every step of `case` that is due at `now` (rechecking the verdict before each)."""
    assert case.id is not None
    result = Advance(case_id=case.id)
    for _ in range(MAX_STEPS_PER_PASS):
        session.flush()  # the plan reads the database: it must see this pass's changes
        records, data = read_cases(session, [case.id])
        load_batch(session, records, data, as_of=org_date(now, settings))
        plan = plan_case(records[0], data, now=now, settings=settings, max_steps=1)
        apply_plan(session, case, plan, now=now, result=result)
        if plan.done:
            break
        if plan.needs is Needs.ABSORB:
            absorb_failures(session, case, now=now)
        elif plan.needs is Needs.SYNC:
            if case not in _sync(session, case, now=now, settings=settings):
                break
        elif plan.needs is Needs.UNKNOWN:
            vendor = session.get(Vendor, case.vendor_id)
            assert vendor is not None, f"case {case.id}: vendor {case.vendor_id} is gone"
            workflow_for(session, case)  # raises LookupError, naming what is missing
            raise AssertionError(f"case {case.id}: planned as unknown, but all is there")
    session.flush()
    return result


def _sync(session: Session, case: Case, *, now: datetime, settings: Settings) -> list[Case]:
    """`sync_vendor` for the case's vendor: the open compliance cases after it."""
    vendor = session.get(Vendor, case.vendor_id)
    assert vendor is not None
    verdict = vendor_verdict(session, vendor, org_date(now, settings))
    return sync_vendor(session, vendor, verdict, now=now, reason=RECHECK, settings=settings)


def apply_plan(
    session: Session, case: Case, plan: CasePlan, *, now: datetime, result: Advance
) -> None:
    """Write `plan` through the session: its rows (a row whose key exists is found, not made
    again), its events in order (a step's event names its rows' ids) and the case's fields."""
    for event in plan.events:
        for row in event.deliveries or ():
            delivery, created = create_delivery(session, row.planned.new, now=now)
            if created:
                skip_unsendable(delivery, row.planned.skip_reason)
                session.add(delivery)
                result.deliveries.append(delivery)
            row.id, row.status = delivery.id, delivery.status
        session.add(CaseEvent(**event.values(plan.case.id, now)))
    for name in CASE_CHANGES:
        setattr(case, name, getattr(plan.case, name))
    result.steps.extend(plan.steps)
    session.add(case)


def absorb_failures(session: Session, case: Case, *, now: datetime) -> bool:
    """Turn delivery failures the outbox reported (CaseEvents) into workflow outcomes."""
    seen = int(case.data.get("events_seen", 0))
    events = session.exec(
        select(CaseEvent)
        .where(
            col(CaseEvent.case_id) == case.id,
            col(CaseEvent.id) > seen,
            col(CaseEvent.kind).in_(FAILURE_KINDS),
        )
        .order_by(col(CaseEvent.id))
    ).all()
    if not events:
        return False
    case.data = {**case.data, "events_seen": max(e.id or 0 for e in events)}
    session.add(case)
    for ev in events:
        outcome = _failure_outcome(ev.data.get("channel"))
        if outcome and case.state in ("active", "waiting"):
            record_outcome(session, case.id or 0, outcome, now=now, data={"step": ev.step})
    return True


def _failure_outcome(channel: object) -> str | None:
    """The workflow outcome the channel reports for a failed delivery (None: none, or a
    channel no longer registered)."""
    try:
        return channel_spec(str(channel)).failure_outcome
    except LookupError:
        return None
