"""When a case's step is due: its nominal time (offset from the trigger date, or delay after
the previous step), then moved into its channel's window by the calendar."""

from __future__ import annotations

from datetime import datetime, timedelta

from comms.settings import Settings
from workflows.calendar import (
    add_business_days,
    local_moment,
    next_allowed,
    phone_zones,
    recipient_zones,
    uses_quiet_hours,
)
from workflows.records import AgentLike, CaseLike, StepLike, VendorLike, WorkflowLike


def step_zones(
    step: StepLike, vendor: VendorLike, agent: AgentLike | None, settings: Settings
) -> list[str]:
    """The zones whose quiet hours gate a phone step: every phone recipient's zones."""
    if not uses_quiet_hours(step.channel):
        return [settings.timezone]
    zones: list[str] = []
    for kind in step.to:
        if kind == "vendor":
            found = recipient_zones(vendor, settings)
        elif kind == "agent" and agent is not None:
            found = phone_zones(agent.phone, settings.default_region) or [settings.timezone]
        else:
            continue
        zones.extend(z for z in found if z not in zones)
    return zones or [settings.timezone]


def nominal_time(
    case: CaseLike, wf: WorkflowLike, index: int, base: datetime, settings: Settings
) -> datetime:
    """The planned time of step `index` before the calendar moves it."""
    step = wf.steps[index]
    if step.offset_days is not None:
        assert case.trigger_date is not None
        day = case.trigger_date + timedelta(days=step.offset_days)
        return local_moment(day, wf.send_at, settings)
    delay = step.delay_spec
    assert delay is not None
    if delay.unit == "business_days":
        return not_before_send_at(add_business_days(base, delay.amount, settings), wf, settings)
    if delay.unit == "days":
        return not_before_send_at(base + timedelta(days=delay.amount), wf, settings)
    return base + timedelta(hours=delay.amount)


def not_before_send_at(at: datetime, wf: WorkflowLike, settings: Settings) -> datetime:
    """Delay-based steps keep office rhythm: never before the workflow's `send_at` (org zone)
    on their day."""
    local = at.astimezone(settings.zone)
    if local.time() < wf.send_at:
        return local_moment(local.date(), wf.send_at, settings)
    return at


def due_time(
    step: StepLike,
    at: datetime,
    vendor: VendorLike,
    agent: AgentLike | None,
    settings: Settings,
) -> datetime:
    return next_allowed(
        step.channel, at, tz_names=step_zones(step, vendor, agent, settings), settings=settings
    )


def opening_index(case: CaseLike, wf: WorkflowLike, now: datetime, settings: Settings) -> int:
    """Where a new case starts. Offset ladders opened late start at the latest step whose
    time has come (earlier ones are recorded as skipped); delay ladders start at step 0."""
    if wf.steps[0].offset_days is None:
        return 0
    start = 0
    for i, step in enumerate(wf.steps):
        if step.offset_days is None:
            break
        if nominal_time(case, wf, i, now, settings) <= now:
            start = i
    # the latest catch-up step whose time has come goes out first (the steps after it follow)
    caught = [i for i in range(start + 1) if wf.steps[i].catch_up]
    return caught[-1] if caught else start
