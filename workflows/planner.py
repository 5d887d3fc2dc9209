"""The one planner of "advance a case": what a pass over one due case does, as a plan.

`plan_case` reads a case record and what its batch loaded (`workflows.batch_load.BatchData`:
vendor, agent, verdict, campaign, workflow, newest delivery statuses) and decides, with
nothing written: the verdict rechecked before every step (a compliant vendor's case resolves
and nothing is sent), campaign stop conditions, `exhausted` after the last step, step
conditions, a row per recipient with an address, and when the next step is due (quiet hours,
business days). The case record is changed in place; the rows and events to write are on the
plan.

Two appliers write a plan: the bulk one (`workflows.batch`, the scheduler's hot path, one
statement per table for a batch) and the per-case ORM one (`workflows.engine`). A plan stops
early, with `needs` set, where a pass needs what only the ORM path does: failures reported by
the outbox to absorb as outcomes, a compliance case to open, supersede or switch, an unknown
workflow or campaign (the ORM path raises the error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from comms.channel_spec import channel_spec
from comms.compliance import Verdict
from comms.models import DeliveryStatus
from comms.settings import Settings
from workflows.batch_load import BatchData
from workflows.calendar import add_business_days, uses_quiet_hours
from workflows.campaigns import stop_reason
from workflows.case_state import CLOSING_STATES, FINAL_STATES
from workflows.definitions import Step, Workflow, get_workflow
from workflows.lifecycle import COMPLIANCE_TRIGGERS, keeps, resolve_reason, wanted_for
from workflows.outputs import PlannedDelivery, Recipient, plan_delivery
from workflows.records import AgentLike, AgentRow, CaseLike, CaseRow, VendorLike, VendorRow
from workflows.timing import due_time, nominal_time, step_zones

GRACE_BUSINESS_DAYS = 5  # after the last step, before the case is marked exhausted
MAX_STEPS_PER_PASS = 50
RECHECK = "verdict rechecked before the next step"
EXHAUSTED = "every step ran and the vendor is still not compliant"


class Needs(StrEnum):
    """Why a plan stopped before its pass was done: what only the ORM path does."""

    ABSORB = "absorb"  # delivery failures the outbox reported, to apply as outcomes
    SYNC = "sync"  # a compliance case to open, supersede or switch (`sync_vendor`)
    UNKNOWN = "unknown"  # the vendor, workflow or campaign could not be had


@dataclass
class PlannedRow:
    planned: PlannedDelivery
    status: str = DeliveryStatus.QUEUED.value
    error: str | None = None
    error_code: str | None = None
    id: int | None = None  # set by the applier that writes it


@dataclass
class PlannedEvent:
    kind: str
    reason: str = ""
    step: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    deliveries: list[PlannedRow] | None = None  # step_done: the rows it made, ids once written

    def values(self, case_id: int, now: datetime) -> dict[str, Any]:
        """The case_event row (its rows' ids set: once they are written)."""
        data = self.data
        if self.deliveries is not None:
            data = {"deliveries": [r.id or 0 for r in self.deliveries], **data}
        return {
            "case_id": case_id,
            "at": now,
            "kind": self.kind,
            "step": self.step,
            "reason": self.reason,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "data": data,
        }


@dataclass
class CasePlan:
    case: CaseRow
    rows: list[PlannedRow] = field(default_factory=list)
    events: list[PlannedEvent] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    newest: dict[str, str] = field(default_factory=dict)  # channel → status planned last
    needs: Needs | None = None  # set when the pass stopped for the ORM path
    done: bool = False  # the pass ended (not due, closed, resolved, exhausted)

    def set_state(self, state: str, *, now: datetime, reason: str) -> None:
        """A state transition on the record, and its event (as `lifecycle.set_state`)."""
        case = self.case
        old, case.state, case.updated_at = case.state, state, now
        if state in CLOSING_STATES:
            case.next_action_at = None
        if state in FINAL_STATES:
            case.resolved_at = now
        self.events.append(PlannedEvent(state, reason=reason, from_state=old, to_state=state))


def plan_case(
    case: CaseRow,
    data: BatchData,
    *,
    now: datetime,
    settings: Settings,
    max_steps: int = MAX_STEPS_PER_PASS,
) -> CasePlan:
    """Plan every step of `case` that is due at `now` (at most `max_steps` loop turns),
    rechecking the verdict before each."""
    plan = CasePlan(case)
    for _ in range(max_steps):
        if case.state not in ("active", "waiting") or case.next_action_at is None:
            plan.done = True
            break
        if case.next_action_at > now:
            plan.done = True
            break
        if data.newest_failure.get(case.id, 0) > int(case.data.get("events_seen", 0)):
            plan.needs = Needs.ABSORB
            break
        vendor = data.vendors.get(case.vendor_id)
        wf = data.workflows.get(case.id)
        if vendor is None or wf is None:
            plan.needs = Needs.UNKNOWN
            break
        verdict = data.verdicts[vendor.id]
        if case.campaign_id == 0:
            kept = recheck(plan, vendor, verdict, data, now=now)
            if kept is None:
                plan.needs = Needs.SYNC
                break
            if not kept:
                plan.done = True
                break
        else:
            why = stop_reason(data.campaigns.get(case.campaign_id), vendor.active, verdict)
            if why:
                plan.set_state("resolved", now=now, reason=why)
                plan.done = True
                break
        if case.snoozed_until is not None and case.snoozed_until <= now:
            case.snoozed_until = None
        if case.state == "waiting":
            case.state = "active"
        if case.step_index >= len(wf.steps):
            plan.set_state("exhausted", now=now, reason=EXHAUSTED)
            plan.done = True
            break
        agent = data.agents.get(vendor.agent_id) if vendor.agent_id else None
        run_step(plan, wf, vendor, agent, data, now=now, settings=settings)
        case.updated_at = now
    return plan


def recheck(
    plan: CasePlan, vendor: VendorRow, verdict: Verdict, data: BatchData, *, now: datetime
) -> bool | None:
    """Whether the verdict still calls for this compliance case: True when it does, False when
    it no longer calls for any (the case is resolved on the plan), None when a case must be
    opened, superseded or switched, or the vendor has another open one (`sync_vendor`)."""
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


def failed_condition(
    step: Step,
    last_outcome: str | None,
    vendor: VendorLike,
    agent: AgentLike | None,
    last_status: Callable[[str], str | None],
) -> str | None:
    """None when every condition of `step` holds, else the first that does not.
    `last_status(channel)` is the status of the case's newest delivery on that channel."""
    for cond in step.when:
        ok: bool
        if cond == "has_phone":
            ok = bool(vendor.phone) and not vendor.phone_invalid
        elif cond == "has_email":
            ok = bool(vendor.email) and not vendor.email_invalid
        elif cond == "has_agent":
            ok = agent is not None
        elif cond == "has_agent_email":
            ok = agent is not None and bool(agent.email) and not agent.email_invalid
        elif cond == "has_agent_phone":
            ok = agent is not None and bool(agent.phone) and not agent.phone_invalid
        elif cond in ("last_email_bounced", "last_sms_failed"):
            ok = last_status("email" if cond == "last_email_bounced" else "sms") in (
                "bounced",
                "failed",
            )
        else:  # no_reply
            ok = last_outcome is None
        if not ok:
            return cond
    return None


def run_step(
    plan: CasePlan,
    wf: Workflow,
    vendor: VendorRow,
    agent: AgentRow | None,
    data: BatchData,
    *,
    now: datetime,
    settings: Settings,
) -> None:
    """Run the case's current step on the plan (or skip it when a condition fails), then
    schedule the next one."""
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
        spec = channel_spec(step.channel)
        for kind in step.to:
            rcpt = spec.find_address(kind, vendor, agent, settings)
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
                plan_delivery(spec, case, step, vendor, agent, rcpt, now=now, settings=settings)
            )
            plan.rows.append(row)
            made.append(row)
            plan.newest[step.channel] = row.status
        if any(r.planned.skip_reason is None for r in made):
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
            if "unreachable" in case.data:  # reached again
                case.data = {k: v for k, v in case.data.items() if k != "unreachable"}
        else:
            unreachable(plan, step, vendor, agent, made, now=now, settings=settings)
    scheduled = case.next_action_at or now
    case.step_index += 1
    case.step_attempts = 0
    case.next_action_at, nominal = _memo_schedule(
        data, case, wf, vendor, agent, base=scheduled, settings=settings
    )
    case.data = {**case.data, "nominal": nominal}


# the staff task of an unreachable vendor: a call-task row outside the ladder (its script is
# templates/scripts/find_contact.md)
FIND_CONTACT = Step.model_construct(
    id="find_contact",
    channel="call_task",
    to=["vendor"],
    template="find_contact",
    offset_days=None,
    delay="0 days",
    when=[],
    outcomes={},
    catch_up=False,
)


def unreachable(
    plan: CasePlan,
    step: Step,
    vendor: VendorRow,
    agent: AgentRow | None,
    made: list[PlannedRow],
    *,
    now: datetime,
    settings: Settings,
) -> None:
    """No recipient of `step` could be reached (no address, opted out, flagged invalid): the
    step is recorded `unreachable`, not done, the case is marked so (`data.unreachable`, read
    by the status), and staff get one task per case to find a contact."""
    case = plan.case
    plan.events.append(
        PlannedEvent(
            "unreachable",
            step=step.id,
            reason=f"{step.channel} to {', '.join(step.to)}: no recipient could be reached",
            data={"nominal": case.data.get("nominal"), "attempt": case.step_attempts},
            deliveries=made,
        )
    )
    data = {**case.data, "unreachable": step.id}
    if not case.data.get("find_contact"):
        task = PlannedRow(
            plan_delivery(
                channel_spec(FIND_CONTACT.channel),
                case,
                FIND_CONTACT,
                vendor,
                agent,
                Recipient("vendor", "staff"),
                now=now,
                settings=settings,
            )
        )
        plan.rows.append(task)
        plan.events.append(
            PlannedEvent(
                "task_opened",
                step=FIND_CONTACT.id,
                reason="staff: find an email, phone or agent for the vendor",
                deliveries=[task],
            )
        )
        data["find_contact"] = True
    case.data = data


def next_schedule(
    case: CaseLike,
    wf: Workflow,
    vendor: VendorLike,
    agent: AgentLike | None,
    *,
    base: datetime,
    settings: Settings,
) -> tuple[datetime, str | None]:
    """When the case's current step is due, and its nominal time (ISO; None after the last
    step, when the grace period before `exhausted` runs). Reads the case's step index,
    trigger date and snooze, the step's recipients' zones, and `base`."""
    if case.step_index >= len(wf.steps):
        return add_business_days(base, GRACE_BUSINESS_DAYS, settings), None
    nominal = nominal_time(case, wf, case.step_index, base, settings)
    if nominal < base:  # behind (after a snooze or promise): one missed step per business day
        nominal = add_business_days(base, 1, settings)
    if case.snoozed_until is not None and nominal < case.snoozed_until:
        nominal = case.snoozed_until
    step = wf.steps[case.step_index]
    return due_time(step, nominal, vendor, agent, settings), nominal.isoformat()


def _memo_schedule(
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
        if uses_quiet_hours(step.channel):
            zones = tuple(step_zones(step, vendor, agent, settings))
        dated = case.trigger_date if step.offset_days is not None else None
        key = (*key, dated, case.snoozed_until, zones)
    found = data.schedules.get(key)
    if found is None:
        found = data.schedules[key] = next_schedule(
            case, wf, vendor, agent, base=base, settings=settings
        )
    return found
