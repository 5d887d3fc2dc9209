"""What an outcome does to a case: one small function per action, in a table by name.

A workflow's rule names an action for an outcome (`outcomes: {no_answer: {action: retry}}`);
`workflows.outcomes.record_outcome` looks the rule up and runs `ACTIONS[rule.action]`.
The workflow schema takes its action names from this table (`workflows.definitions`), so an
action added here can be named in a workflow file, and a name not here is refused on load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from comms.channel_spec import channel_spec
from comms.models import Agent, Case, Vendor
from comms.settings import Settings
from comms.stored_verdicts import refresh_vendor
from comms.timeutil import parse_date
from workflows.calendar import add_business_days, local_moment
from workflows.case_state import add_event, resolve_case
from workflows.records import RuleLike, StepLike, WorkflowLike
from workflows.timing import due_time


@dataclass
class OutcomeContext:
    """An outcome being applied: the case, the step it answers and the rule it matched."""

    session: Session
    case: Case
    wf: WorkflowLike
    step: StepLike
    last: int  # the index of `step`
    rule: RuleLike
    outcome: str
    data: dict[str, Any]
    vendor: Vendor
    agent: Agent | None
    now: datetime
    settings: Settings


Action = Callable[[OutcomeContext], None]


def resolve(ctx: OutcomeContext) -> None:
    """Close the case."""
    resolve_case(ctx.session, ctx.case, now=ctx.now, reason=f"outcome {ctx.outcome}")


def snooze(ctx: OutcomeContext) -> None:
    """Wait `business_days`, then continue with the next step."""
    _wait(ctx, add_business_days(ctx.now, ctx.rule.business_days, ctx.settings))


def wait_until(ctx: OutcomeContext) -> None:
    """Wait until the day after data["date"] (at the workflow's `send_at`), then continue."""
    if "date" not in ctx.data:
        raise ValueError(f"outcome {ctx.outcome!r} needs data {{'date': 'YYYY-MM-DD'}}")
    day = parse_date(str(ctx.data["date"])) + timedelta(days=1)
    _wait(ctx, local_moment(day, ctx.wf.send_at, ctx.settings))


def _wait(ctx: OutcomeContext, until: datetime) -> None:
    case = ctx.case
    case.snoozed_until = until
    old = case.state
    case.state = "waiting"
    if case.step_index < len(ctx.wf.steps):
        nxt = ctx.wf.steps[case.step_index]
        base = max(until, case.next_action_at or until)
        case.next_action_at = due_time(nxt, base, ctx.vendor, ctx.agent, ctx.settings)
    _note(ctx, "snoozed", f"until {until.isoformat()}", from_state=old, to_state="waiting")


def retry(ctx: OutcomeContext) -> None:
    """Repeat this step after `business_days` (at least one), up to `limit` attempts."""
    case, step = ctx.case, ctx.step
    tried = dict(case.data.get("attempts") or {})
    attempts = int(tried.get(step.id, 0)) + 1  # attempts of this step so far
    if attempts >= ctx.rule.limit:
        _note(ctx, "retries_exhausted", f"{attempts} attempts", step=step.id)
        return
    case.step_attempts = attempts
    tried[step.id] = attempts
    case.data = {**case.data, "attempts": tried}
    case.step_index = ctx.last
    at = add_business_days(ctx.now, max(ctx.rule.business_days, 1), ctx.settings)
    case.next_action_at = due_time(step, at, ctx.vendor, ctx.agent, ctx.settings)
    case.data = {**case.data, "retry_of": step.id}
    _note(ctx, "retry_planned", f"attempt {attempts + 1}", step=step.id)


def update_phone(ctx: OutcomeContext) -> None:
    """Store data["phone"] on the vendor (when given), then retry."""
    if ctx.data.get("phone"):
        ctx.vendor.phone = str(ctx.data["phone"])
        ctx.vendor.phone_invalid = False
        ctx.session.add(ctx.vendor)
        ctx.session.flush()
        if ctx.vendor.id is not None:  # reachable now, perhaps
            refresh_vendor(ctx.session, ctx.vendor.id, now=ctx.now, reason="phone number updated")
    retry(ctx)


def next_channel(ctx: OutcomeContext) -> None:
    """Skip ahead to the next step on a different channel."""
    _skip_to(ctx, lambda channel: channel != ctx.step.channel)


def first_phone_step(ctx: OutcomeContext) -> None:
    """Skip ahead to the first step on a channel that reaches a phone."""
    _skip_to(ctx, lambda channel: channel_spec(channel).by_phone)


def _skip_to(ctx: OutcomeContext, wanted: Callable[[str], bool]) -> None:
    case, steps = ctx.case, ctx.wf.steps
    target = next((i for i in range(ctx.last + 1, len(steps)) if wanted(steps[i].channel)), None)
    if target is None or target < case.step_index:
        return
    for skipped in steps[case.step_index : target]:
        add_event(
            ctx.session,
            case,
            "step_skipped",
            now=ctx.now,
            step=skipped.id,
            reason=f"skipped ahead after {ctx.outcome}",
        )
    case.step_index = target
    case.step_attempts = 0
    case.next_action_at = due_time(steps[target], ctx.now, ctx.vendor, ctx.agent, ctx.settings)


def carry_on(ctx: OutcomeContext) -> None:
    """Note it; the ladder carries on as planned."""


def stop_channel(ctx: OutcomeContext) -> None:
    """The recipient opted out of this step's channel: continue without it."""
    field = channel_spec(ctx.step.channel).opt_out
    if field:
        setattr(ctx.vendor, field, True)
        ctx.session.add(ctx.vendor)


def _note(ctx: OutcomeContext, kind: str, what: str, **fields: Any) -> None:
    """An event on the case's timeline: `<outcome>: <what>`."""
    add_event(ctx.session, ctx.case, kind, now=ctx.now, reason=f"{ctx.outcome}: {what}", **fields)


ACTIONS: dict[str, Action] = {
    "snooze": snooze,
    "wait_until": wait_until,
    "retry": retry,
    "next_channel": next_channel,
    "first_phone_step": first_phone_step,
    "continue": carry_on,
    "resolve": resolve,
    "update_phone": update_phone,
    "stop_channel": stop_channel,
}
