"""When the next message goes out: the line `comms tick` and the first pass of `comms run`
print, so a newcomer who sees nothing sent learns why ("next: 3 emails at 09:00
America/New_York on Thu Dec 3, in 3 h 52 min")."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from comms.models import Case, Delivery, DeliveryStatus
from comms.settings import Settings
from workflows.definitions import get_workflow

WORDS = {"email": "email", "sms": "text", "call": "call", "call_task": "call task"}
ACTIVE = ("active", "waiting")


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _count(word: str, n: int) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _wait(delta_seconds: float) -> str:
    minutes = max(int(delta_seconds // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours or days:
        parts.append(f"{hours} h")
    parts.append(f"{mins} min")
    return " ".join(parts)


def next_delivery_line(session: Session, *, now: datetime, settings: Settings) -> str:
    """One line: what goes out next (counted by channel), when in the organization's zone, and
    how long from `now`; or that nothing is scheduled."""
    case_at = _aware(
        session.exec(
            select(func.min(Case.next_action_at)).where(
                col(Case.state).in_(ACTIVE), col(Case.next_action_at) > now
            )
        ).one()
    )
    row_at = _aware(
        session.exec(
            select(func.min(Delivery.next_attempt_at)).where(
                col(Delivery.status) == DeliveryStatus.QUEUED.value,
                col(Delivery.next_attempt_at) > now,
            )
        ).one()
    )
    moments = [m for m in (case_at, row_at) if m is not None]
    if not moments:
        return "next: nothing scheduled (no open case has a step to come)"
    first = min(moments)
    counts: Counter[str] = Counter()
    for case in session.exec(
        select(Case).where(col(Case.state).in_(ACTIVE), col(Case.next_action_at) == first)
    ).all():
        try:
            steps = get_workflow(case.workflow).steps
        except LookupError:
            continue
        if case.step_index < len(steps):
            step = steps[case.step_index]
            counts[step.channel] += len(step.to)
    for channel in session.exec(
        select(Delivery.channel).where(
            col(Delivery.status) == DeliveryStatus.QUEUED.value,
            col(Delivery.next_attempt_at) == first,
        )
    ).all():
        counts[channel] += 1
    what = ", ".join(_count(WORDS.get(ch, ch), n) for ch, n in sorted(counts.items()))
    local = first.astimezone(settings.zone)
    when = f"{local:%H:%M} {settings.timezone} on {local:%a %b} {local.day}"
    return f"next: {what or 'a step'} at {when}, in {_wait((first - now).total_seconds())}"
