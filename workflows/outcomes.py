"""What outcomes do to a case: snooze, wait until a promised date, retry a call, skip ahead
to the next channel or the first phone step, resolve, update the phone number, opt out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from comms.models import Agent, Case, Vendor
from comms.settings import get_settings
from comms.timeutil import parse_date
from workflows.calendar import add_business_days, local_moment
from workflows.lifecycle import PHONE_STEP_CHANNELS, add_event, resolve_case
from workflows.timing import due_time


def apply_case_outcome(
    session: Session,
    case_id: int,
    outcome: str,
    *,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> Case:
    """Apply an outcome (IVR keypress, call-task result, delivery failure) to a case, as its
    workflow's rule for the last executed step says."""
    settings = get_settings()
    data = data or {}
    case = session.get(Case, case_id)
    if case is None:
        raise LookupError(f"no case {case_id}")
    from workflows.campaigns import workflow_for

    wf = workflow_for(session, case)
    last = max(case.step_index - 1, 0)
    if data.get("step"):
        last = wf.step_index(str(data["step"]))
    step = wf.steps[last]
    rule = wf.rule_for(step, outcome)
    case.last_outcome = outcome
    add_event(session, case, "outcome", now=now, step=step.id, reason=outcome, data=dict(data))
    if case.state not in ("active", "waiting"):
        session.add(case)
        return case  # recorded on the timeline; a paused/closed case is not moved
    if rule is None:
        raise ValueError(f"workflow {wf.name!r} has no rule for outcome {outcome!r}")
    vendor = session.get(Vendor, case.vendor_id)
    assert vendor is not None
    agent = session.get(Agent, vendor.agent_id) if vendor.agent_id else None
    action = rule.action
    if action == "resolve":
        resolve_case(session, case, now=now, reason=f"outcome {outcome}")
        return case
    if action in ("snooze", "wait_until"):
        if action == "snooze":
            until = add_business_days(now, rule.business_days, settings)
        else:
            if "date" not in data:
                raise ValueError("outcome 'promised' needs data {'date': 'YYYY-MM-DD'}")
            until = local_moment(
                parse_date(str(data["date"])) + timedelta(days=1), wf.send_at, settings
            )
        case.snoozed_until = until
        old = case.state
        case.state = "waiting"
        if case.step_index < len(wf.steps):
            nxt = wf.steps[case.step_index]
            base = max(until, case.next_action_at or until)
            case.next_action_at = due_time(nxt, base, vendor, agent, settings)
        add_event(
            session,
            case,
            "snoozed",
            now=now,
            reason=f"{outcome}: until {until.isoformat()}",
            from_state=old,
            to_state="waiting",
        )
    elif action in ("retry", "update_phone"):
        if action == "update_phone" and data.get("phone"):
            vendor.phone = str(data["phone"])
            vendor.phone_invalid = False
            session.add(vendor)
        tried = dict(case.data.get("attempts") or {})
        attempts = int(tried.get(step.id, 0)) + 1  # attempts of this step so far
        if attempts >= rule.limit:
            add_event(
                session,
                case,
                "retries_exhausted",
                now=now,
                step=step.id,
                reason=f"{outcome}: {attempts} attempts",
            )
        else:
            case.step_attempts = attempts
            tried[step.id] = attempts
            case.data = {**case.data, "attempts": tried}
            case.step_index = last
            at = add_business_days(now, max(rule.business_days, 1), settings)
            case.next_action_at = due_time(step, at, vendor, agent, settings)
            case.data = {**case.data, "retry_of": step.id}
            add_event(
                session,
                case,
                "retry_planned",
                now=now,
                step=step.id,
                reason=f"{outcome}: attempt {attempts + 1}",
            )
    elif action in ("next_channel", "first_phone_step"):
        target = None
        for i in range(last + 1, len(wf.steps)):
            ch = wf.steps[i].channel
            if (action == "first_phone_step" and ch in PHONE_STEP_CHANNELS) or (
                action == "next_channel" and ch != step.channel
            ):
                target = i
                break
        if target is not None and target >= case.step_index:
            for skipped in wf.steps[case.step_index : target]:
                add_event(
                    session,
                    case,
                    "step_skipped",
                    now=now,
                    step=skipped.id,
                    reason=f"skipped ahead after {outcome}",
                )
            case.step_index = target
            case.step_attempts = 0
            case.next_action_at = due_time(wf.steps[target], now, vendor, agent, settings)
    elif action == "stop_channel":
        field = {"email": "opt_out_email", "sms": "opt_out_sms", "call": "opt_out_call"}.get(
            step.channel
        )
        if field:
            setattr(vendor, field, True)
            session.add(vendor)
    case.updated_at = now
    session.add(case)
    return case
