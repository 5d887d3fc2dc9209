"""What the call desk shows: the queue rows (who, which vendors, why, the callee's local time
and whether it is inside calling hours) and the team lead's figures."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median, quantiles
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from comms.models import Vendor
from comms.models.verdicts import VendorVerdict
from comms.settings import Settings
from comms.stored_verdicts import valid_on
from telephony.call_script import COMPLIANT_WHY, resolvable_why
from telephony.models import CallTask
from telephony.task_states import DONE, available
from workflows.calendar import recipient_zones, within_quiet_hours


@dataclass(frozen=True)
class QueueRow:
    task: CallTask
    vendors: list[str]
    why: list[str]
    local_time: str
    zone: str
    callable_now: bool
    waited: timedelta


def callee_zone(session: Session, task: CallTask, settings: Settings) -> str:
    vendor = session.get(Vendor, task.vendor_id) if task.vendor_id else None
    if task.target_kind == "agent":
        vendor = None  # the agent's number says where they are
    return recipient_zones(vendor, settings, phone=task.phone)[0]


def vendor_ids(tasks: list[CallTask]) -> list[int]:
    return sorted({int(i["vendor_id"]) for t in tasks for i in t.items or [] if i.get("vendor_id")})


def compliant_now(
    session: Session, ids: list[int], *, now: datetime, settings: Settings
) -> set[int]:
    """The vendors among `ids` whose stored verdict today is compliant (one indexed read)."""
    if not ids:
        return set()
    day = now.astimezone(settings.zone).date()
    rows = session.exec(
        select(
            col(VendorVerdict.vendor_id),
            col(VendorVerdict.computed_for),
            col(VendorVerdict.changes_on),
        )
        .where(col(VendorVerdict.vendor_id).in_(ids))
        .where(VendorVerdict.status == "compliant")
    ).all()
    return {int(r[0]) for r in rows if valid_on(r, day)}


def queue_row(
    session: Session,
    task: CallTask,
    *,
    now: datetime,
    settings: Settings,
    compliant: set[int] | None = None,
) -> QueueRow:
    """`compliant`: the vendors now compliant (`compliant_now`); their why says so instead of
    what it was when the task was opened, and the task can be resolved only when all its
    vendors are."""
    zone = callee_zone(session, task, settings)
    local = now.astimezone(ZoneInfo(zone))
    items = task.items or []
    vendors = [str(i["vendor_name"]) for i in items if i.get("vendor_name")]
    return QueueRow(
        task=task,
        vendors=vendors,
        why=task_why(items, compliant or set()) or [task.reason.replace("_", " ")],
        local_time=f"{local.hour % 12 or 12}:{local:%M %p} {local:%Z}",
        zone=zone,
        callable_now=within_quiet_hours(now, [zone], settings),
        waited=now - (task.due_at or task.created_at),
    )


def task_why(items: list[dict[str, Any]], compliant: set[int]) -> list[str]:
    """Why a task's callee is called, in words: the task can be resolved when every vendor it
    is about is now compliant; else each vendor's why (a compliant one says so), named by the
    vendor when the task is about several."""
    about = [i for i in items if i.get("vendor_id")]
    if about and all(i["vendor_id"] in compliant for i in about):
        return [resolvable_why(len(about))]
    named = len(about) > 1
    why = []
    for item in items:
        words = (
            COMPLIANT_WHY
            if item.get("vendor_id") in compliant
            else str(item.get("why") or item.get("reason") or "").replace("_", " ")
        )
        if words and named and item.get("vendor_name"):
            words = f"{item['vendor_name']}: {words}"
        if words:
            why.append(words)
    return why


def queue(
    session: Session, *, now: datetime, settings: Settings, limit: int = 50
) -> list[QueueRow]:
    """Tasks due now that nobody holds: priority first, then the longest waiting."""
    tasks = session.exec(
        select(CallTask)
        .where(available(now), col(CallTask.due_at) <= now)
        .order_by(col(CallTask.priority), col(CallTask.due_at), col(CallTask.id))
        .limit(limit)
    ).all()
    compliant = compliant_now(session, vendor_ids(list(tasks)), now=now, settings=settings)
    return [queue_row(session, t, now=now, settings=settings, compliant=compliant) for t in tasks]


def held_by(session: Session, name: str, *, now: datetime) -> list[CallTask]:
    return list(
        session.exec(
            select(CallTask)
            .where(CallTask.claimed_by == name, col(CallTask.status).in_(("claimed", "wrapping")))
            .order_by(col(CallTask.id))
        ).all()
    )


def stats(session: Session, *, now: datetime, settings: Settings) -> dict[str, Any]:
    """Waiting tasks and the oldest one's age; handle time (claim to saved disposition, wrap-up
    included) median and p90 of today's; tasks per caller today; outcomes by kind today."""
    waiting = session.exec(
        select(CallTask.due_at).where(available(now), col(CallTask.due_at) <= now)
    ).all()
    oldest = max((now - d for d in waiting if d is not None), default=timedelta(0))
    local_midnight = now.astimezone(settings.zone).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    done = session.exec(
        select(CallTask).where(
            CallTask.status == DONE, col(CallTask.completed_at) >= local_midnight
        )
    ).all()
    handle = sorted(
        (t.completed_at - t.claimed_at).total_seconds()
        for t in done
        if t.completed_at is not None and t.claimed_at is not None
    )
    p90 = quantiles(handle, n=10)[-1] if len(handle) >= 2 else (handle[0] if handle else None)
    outcomes: Counter[str] = Counter()
    for t in done:
        for item in t.items or [{"outcome": t.outcome}]:
            outcomes[str(item.get("outcome") or t.outcome)] += 1
    return {
        "as_of": now.isoformat(),
        "waiting": len(waiting),
        "oldest_wait_seconds": int(oldest.total_seconds()),
        "handle_seconds": {
            "count": len(handle),
            "median": median(handle) if handle else None,
            "p90": p90,
        },
        "per_caller_today": dict(Counter(t.claimed_by or "?" for t in done).most_common()),
        "outcomes_today": dict(outcomes.most_common()),
    }
