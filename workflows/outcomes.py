"""Applying an outcome (IVR keypress, call-task result, delivery failure) to a case: the
workflow's rule for the step it answers names an action, which `workflows.outcome_actions`
carries out (snooze, wait until a promised date, retry a call, skip ahead to the next channel
or the first phone step, resolve, update the phone number, opt out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from comms.models import Agent, Case, Vendor
from comms.settings import get_settings
from workflows.case_state import add_event
from workflows.case_workflow import workflow_for
from workflows.outcome_actions import ACTIONS, OutcomeContext


def record_outcome(
    session: Session,
    case_id: int,
    outcome: str,
    *,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> Case:
    """Apply an outcome to a case, as its workflow's rule for the last executed step (or the
    step named in `data["step"]`) says. The outcome is recorded on the timeline first; a
    paused or closed case is not moved."""
    settings = get_settings()
    data = data or {}
    case = session.get(Case, case_id)
    if case is None:
        raise LookupError(f"no case {case_id}")
    wf = workflow_for(session, case)
    last = max(case.step_index - 1, 0)
    if data.get("step") and any(s.id == data["step"] for s in wf.steps):
        last = wf.step_index(str(data["step"]))  # (a staff task outside the ladder: the last)
    step = wf.steps[last]
    rule = wf.rule_for(step, outcome)
    case.last_outcome = outcome
    add_event(session, case, "outcome", now=now, step=step.id, reason=outcome, data=dict(data))
    if case.state not in ("active", "waiting"):
        session.add(case)
        return case
    if rule is None:
        raise ValueError(f"workflow {wf.name!r} has no rule for outcome {outcome!r}")
    vendor = session.get(Vendor, case.vendor_id)
    assert vendor is not None
    agent = session.get(Agent, vendor.agent_id) if vendor.agent_id else None
    ACTIONS[rule.action](
        OutcomeContext(
            session=session,
            case=case,
            wf=wf,
            step=step,
            last=last,
            rule=rule,
            outcome=outcome,
            data=data,
            vendor=vendor,
            agent=agent,
            now=now,
            settings=settings,
        )
    )
    case.updated_at = now
    session.add(case)
    return case
