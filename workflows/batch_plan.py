"""Plan one claimed case on records loaded for its batch: the rules of
`workflows.engine.advance_case` (the verdict recomputed before every step, campaign stop
conditions, step conditions, recipients, quiet hours and business days), with nothing written.
`plan_case` returns None when the case needs what only the one-case path does (opening,
superseding or switching a compliance case, delivery failures to absorb, an unknown workflow
or campaign).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from comms.compliance import Verdict
from comms.models import DeliveryStatus
from comms.settings import Settings
from workflows.batch_load import BatchData
from workflows.calendar import PHONE_CHANNELS
from workflows.campaigns import stop_reason
from workflows.definitions import Workflow, get_workflow
from workflows.engine import MAX_STEPS_PER_PASS, failed_condition, next_schedule
from workflows.lifecycle import COMPLIANCE_TRIGGERS, keeps, resolve_reason, wanted_for
from workflows.outputs import PlannedDelivery, plan_delivery, recipient_for
from workflows.records import AgentRow, CaseRow, VendorRow
from workflows.timing import step_zones

RECHECK = "verdict rechecked before the next step"
EXHAUSTED = "every step ran and the vendor is still not compliant"


@dataclass
class PlannedRow:
    planned: PlannedDelivery
    status: str = DeliveryStatus.QUEUED.value
    error: str | None = None
    error_code: str | None = None
    id: int | None = None


@dataclass
class PlannedEvent:
    kind: str
    reason: str = ""
    step: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    deliveries: list[PlannedRow] | None = None  # step_done: the rows it made, ids once written


@dataclass
class CasePlan:
    case: CaseRow
    rows: list[PlannedRow] = field(default_factory=list)
    events: list[PlannedEvent] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    newest: dict[str, str] = field(default_factory=dict)  # channel → status planned last

    def set_state(self, state: str, *, now: datetime, reason: str) -> None:
        """`workflows.lifecycle.set_state` on the record."""
        case = self.case
        old, case.state, case.updated_at = case.state, state, now
        if state in ("resolved", "exhausted", "paused"):
            case.next_action_at = None
        if state in ("resolved", "exhausted"):
            case.resolved_at = now
        self.events.append(PlannedEvent(state, reason=reason, from_state=old, to_state=state))


def plan_case(
    case: CaseRow, data: BatchData, *, now: datetime, settings: Settings
) -> CasePlan | None:
    """The pass `advance_case` would make, on the record; None when the case needs it."""
    plan = CasePlan(case)
    for _ in range(MAX_STEPS_PER_PASS):
        if case.state not in ("active", "waiting") or case.next_action_at is None:
            break
        if case.next_action_at > now:
            break
        if data.newest_failure.get(case.id, 0) > int(case.data.get("events_seen", 0)):
            return None  # outcomes to absorb first
        vendor = data.vendors.get(case.vendor_id)
        wf = data.workflows.get(case.id)
        if vendor is None or wf is None:
            return None
        verdict = data.verdicts[vendor.id]
        if case.campaign_id == 0:
            kept = _recheck(plan, vendor, verdict, data, now=now)
            if kept is None:
                return None
            if not kept:
                break
        else:
            why = stop_reason(data.campaigns.get(case.campaign_id), vendor.active, verdict)
            if why:
                plan.set_state("resolved", now=now, reason=why)
                break
        if case.snoozed_until is not None and case.snoozed_until <= now:
            case.snoozed_until = None
        if case.state == "waiting":
            case.state = "active"
        if case.step_index >= len(wf.steps):
            plan.set_state("exhausted", now=now, reason=EXHAUSTED)
            break
        agent = data.agents.get(vendor.agent_id) if vendor.agent_id else None
        _run_step(plan, wf, vendor, agent, data, now=now, settings=settings)
        case.updated_at = now
    return plan


def _recheck(
    plan: CasePlan, vendor: VendorRow, verdict: Verdict, data: BatchData, *, now: datetime
) -> bool | None:
    """`sync_vendor` for a case that is its vendor's only open compliance case: True when the
    verdict still calls for it, False when it resolved, None when a case must be opened or
    switched (the one-case path)."""
    case = plan.case
    if case.trigger not in COMPLIANCE_TRIGGERS or case.id in data.other_open:
        return None
    wanted = None
    if vendor.active:
        wanted = wanted_for(
            verdict,
            horizon_days=get_workflow("expiring").horizon_days,
            latest_certificate=data.latest_certificate.get(vendor.id),
        )
    if keeps(case.trigger, case.data.get("key"), wanted):
        return True
    if wanted is not None:
        return None
    why = resolve_reason(vendor.active, verdict, wanted, case.trigger)
    plan.set_state("resolved", now=now, reason=f"{RECHECK}; {why}")
    return False


def _run_step(
    plan: CasePlan,
    wf: Workflow,
    vendor: VendorRow,
    agent: AgentRow | None,
    data: BatchData,
    *,
    now: datetime,
    settings: Settings,
) -> None:
    """`workflows.engine.run_step` on the record."""
    case = plan.case
    step = wf.steps[case.step_index]

    def last_status(channel: str) -> str | None:
        return plan.newest.get(channel, data.last_status.get((case.id, channel)))

    failed = failed_condition(step, case.last_outcome, vendor, agent, last_status)
    if failed is not None:
        plan.events.append(
            PlannedEvent("step_skipped", step=step.id, reason=f"condition {failed} not met")
        )
    else:
        made: list[PlannedRow] = []
        for kind in step.to:
            rcpt = recipient_for(kind, step.channel, vendor, agent, settings)
            if rcpt.address is None:
                plan.events.append(
                    PlannedEvent(
                        "recipient_skipped",
                        step=step.id,
                        reason=rcpt.skip_reason or "no address",
                        data={"to": kind},
                    )
                )
                continue
            row = PlannedRow(
                plan_delivery(
                    case_id=case.id,
                    workflow=case.workflow,
                    step=step,
                    vendor=vendor,
                    agent=agent,
                    recipient=rcpt,
                    now=now,
                    attempt=case.step_attempts,
                    settings=settings,
                )
            )
            plan.rows.append(row)
            made.append(row)
            plan.newest[step.channel] = row.status
        plan.events.append(
            PlannedEvent(
                "step_done",
                step=step.id,
                reason=f"{step.channel} to {', '.join(step.to)}",
                data={"nominal": case.data.get("nominal"), "attempt": case.step_attempts},
                deliveries=made,
            )
        )
        plan.steps.append(step.id)
    scheduled = case.next_action_at or now
    case.step_index += 1
    case.step_attempts = 0
    case.next_action_at, nominal = _next_schedule(
        data, case, wf, vendor, agent, base=scheduled, settings=settings
    )
    case.data = {**case.data, "nominal": nominal}


def _next_schedule(
    data: BatchData,
    case: CaseRow,
    wf: Workflow,
    vendor: VendorRow,
    agent: AgentRow | None,
    *,
    base: datetime,
    settings: Settings,
) -> tuple[datetime, str | None]:
    """`next_schedule`, computed once per batch for the same inputs (cases planned in one tick
    mostly share their due time, workflow and step): the key holds everything it reads."""
    index = case.step_index
    key: tuple[Any, ...] = (id(wf), index, base)
    if index < len(wf.steps):
        step = wf.steps[index]
        zones: tuple[str, ...] = ()
        if step.channel in PHONE_CHANNELS:
            zones = tuple(step_zones(step, vendor, agent, settings))
        dated = case.trigger_date if step.offset_days is not None else None
        key = (*key, dated, case.snoozed_until, zones)
    found = data.schedules.get(key)
    if found is None:
        found = data.schedules[key] = next_schedule(
            case, wf, vendor, agent, base=base, settings=settings
        )
    return found
