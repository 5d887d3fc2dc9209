"""Advance one case: recheck the verdict, run the due step, schedule the next one.

The same code runs under `comms tick` (real deliveries) and `comms simulate` (against a
throwaway copy of the data), so the preview agrees with what a tick does. The scheduler plans
most cases in bulk (`workflows.batch`), which follows these rules on loaded records and hands
every case that needs more (opening or switching a case, outcomes to absorb) to
`advance_case`; the pure pieces (`failed_condition`, `schedule_next`) are shared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from comms.models import Agent, Case, CaseEvent, Delivery, Vendor
from comms.models.cases import FAILURE_KINDS
from comms.settings import Settings
from comms.verdicts import vendor_verdict
from workflows.calendar import add_business_days, org_date
from workflows.campaigns import campaign_stop_reason, workflow_for
from workflows.definitions import Step, Workflow
from workflows.lifecycle import add_event, record_outcome, set_state, sync_vendor
from workflows.outputs import emit, recipient_for
from workflows.records import AgentLike, CaseLike, VendorLike
from workflows.timing import due_time, nominal_time

log = logging.getLogger(__name__)

FAILURE_OUTCOMES = {"email": "email_bounced", "sms": "sms_failed", "call": "call_failed"}
GRACE_BUSINESS_DAYS = 5  # after the last step, before the case is marked exhausted
MAX_STEPS_PER_PASS = 50


@dataclass
class Advance:
    case_id: int
    deliveries: list[Delivery] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)


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


def conditions_met(
    session: Session, step: Step, case: Case, vendor: Vendor, agent: Agent | None
) -> str | None:
    """None when every condition holds, else the first that does not."""

    def last_status(channel: str) -> str | None:
        return session.exec(
            select(Delivery.status)
            .where(col(Delivery.case_id) == case.id, col(Delivery.channel) == channel)
            .order_by(col(Delivery.id).desc())
        ).first()

    return failed_condition(step, case.last_outcome, vendor, agent, last_status)


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
        outcome = FAILURE_OUTCOMES.get(str(ev.data.get("channel")))
        if outcome and case.state in ("active", "waiting"):
            record_outcome(session, case.id or 0, outcome, now=now, data={"step": ev.step})
    return True


def run_step(
    session: Session,
    case: Case,
    wf: Workflow,
    vendor: Vendor,
    agent: Agent | None,
    *,
    now: datetime,
    settings: Settings,
    result: Advance,
) -> None:
    step = wf.steps[case.step_index]
    failed = conditions_met(session, step, case, vendor, agent)
    if failed is not None:
        add_event(
            session,
            case,
            "step_skipped",
            now=now,
            step=step.id,
            reason=f"condition {failed} not met",
        )
    else:
        made: list[int] = []
        for kind in step.to:
            rcpt = recipient_for(kind, step.channel, vendor, agent, settings)
            if rcpt.address is None:
                add_event(
                    session,
                    case,
                    "recipient_skipped",
                    now=now,
                    step=step.id,
                    reason=rcpt.skip_reason or "no address",
                    data={"to": kind},
                )
                continue
            delivery, created = emit(
                session,
                case_id=case.id or 0,
                workflow=case.workflow,
                step=step,
                vendor=vendor,
                agent=agent,
                recipient=rcpt,
                now=now,
                attempt=case.step_attempts,
                settings=settings,
            )
            made.append(delivery.id or 0)
            if created:
                result.deliveries.append(delivery)
        add_event(
            session,
            case,
            "step_done",
            now=now,
            step=step.id,
            reason=f"{step.channel} to {', '.join(step.to)}",
            data={
                "deliveries": made,
                "nominal": case.data.get("nominal"),
                "attempt": case.step_attempts,
            },
        )
        result.steps.append(step.id)
    scheduled = case.next_action_at or now
    case.step_index += 1
    case.step_attempts = 0
    schedule_next(case, wf, vendor, agent, base=scheduled, settings=settings)


def schedule_next(
    case: CaseLike,
    wf: Workflow,
    vendor: VendorLike,
    agent: AgentLike | None,
    *,
    base: datetime,
    settings: Settings,
) -> None:
    case.next_action_at, nominal = next_schedule(
        case, wf, vendor, agent, base=base, settings=settings
    )
    case.data = {**case.data, "nominal": nominal}


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


def advance_case(session: Session, case: Case, *, now: datetime, settings: Settings) -> Advance:
    """Run every step of `case` that is due at `now` (rechecking the verdict before each)."""
    result = Advance(case_id=case.id or 0)
    for _ in range(MAX_STEPS_PER_PASS):
        if case.state not in ("active", "waiting") or case.next_action_at is None:
            break
        if case.next_action_at > now:
            break
        if absorb_failures(session, case, now=now):
            continue  # the outcome may have moved the case; look again
        vendor = session.get(Vendor, case.vendor_id)
        assert vendor is not None
        wf = workflow_for(session, case)
        verdict = vendor_verdict(session, vendor, org_date(now, settings))
        if case.campaign_id == 0:
            still_open = sync_vendor(
                session,
                vendor,
                verdict,
                now=now,
                reason="verdict rechecked before the next step",
                settings=settings,
            )
            if case not in still_open:
                break
        else:
            why = campaign_stop_reason(session, case, vendor, verdict)
            if why:
                set_state(session, case, "resolved", now=now, reason=why)
                break
        if case.snoozed_until is not None and case.snoozed_until <= now:
            case.snoozed_until = None
        if case.state == "waiting":
            case.state = "active"
        if case.step_index >= len(wf.steps):
            set_state(
                session,
                case,
                "exhausted",
                now=now,
                reason="every step ran and the vendor is still not compliant",
            )
            break
        agent = session.get(Agent, vendor.agent_id) if vendor.agent_id else None
        run_step(session, case, wf, vendor, agent, now=now, settings=settings, result=result)
        case.updated_at = now
        session.add(case)
    session.flush()
    return result
