"""Call-center tasks: created by workflow steps and IVR choices, one per person to call (the
vendors due to one agent share one call), claimed as a reservation, completed with a
disposition per vendor that drives each vendor's case (the states: `telephony.task_states`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from comms.context import template_context
from comms.models import Agent, Case, Delivery, Vendor
from comms.settings import Settings, get_settings
from comms.stored_verdicts import verdict_on
from telephony import render, task_states
from telephony.call_script import render_script, why_words
from telephony.models import CallTask, TaskStatus
from telephony.phone import normalize
from telephony.task_states import TaskConflict, TaskError, available
from workflows.lifecycle import record_outcome

__all__ = ["TaskConflict", "TaskError"]

#: the dispositions a caller picks (in the desk's order: keys 1–9) → the workflow outcome
DISPOSITIONS: dict[str, str] = {
    "reached": "reached",
    "promised": "promised",
    "renewal_on_way": "renewal_on_way",
    "voicemail_left": "voicemail_left",
    "no_answer": "no_answer",
    "busy": "busy",
    "wrong_number": "wrong_number",
    "opted_out": "opted_out",
    "resolved": "resolved",
}
#: accepted too (older names)
ALIASES = {"voicemail": "voicemail_left"}
OUTCOMES: dict[str, str] = {**DISPOSITIONS, **{k: DISPOSITIONS[v] for k, v in ALIASES.items()}}


@dataclass(frozen=True)
class NewTask:
    vendor: Vendor | None
    reason: str
    due_at: datetime
    target_kind: str = "vendor"
    case: Case | None = None
    priority: int = 3
    script_template: str = "call_vendor"
    phone: str | None = None
    delivery_id: int | None = None
    recording_url: str | None = None
    extra: dict[str, Any] | None = None


def reservation(settings: Settings | None = None) -> timedelta:
    return timedelta(minutes=(settings or get_settings()).call_reservation_minutes)


def _item(session: Session, new: NewTask, *, now: datetime, settings: Settings) -> dict[str, Any]:
    # why: the vendor's verdict on the task's day (a case opened as "expiring" whose policies
    # have since expired is about an expired certificate), else the case's trigger
    status = ""
    if new.vendor is not None:
        as_of = now.astimezone(settings.zone).date()
        assert new.vendor.id is not None
        status = verdict_on(session, new.vendor.id, as_of).status.value
    trigger = new.case.trigger if new.case is not None else ""
    return {
        "vendor_id": new.vendor.id if new.vendor is not None else None,
        "vendor_name": new.vendor.name if new.vendor is not None else None,
        "case_id": new.case.id if new.case is not None else None,
        "delivery_id": new.delivery_id,
        "reason": new.reason,
        "why": why_words(status, trigger, new.reason),
    }


def _merge_into(session: Session, target_kind: str, phone: str | None) -> CallTask | None:
    """An open workflow task to the same person (same kind, same number) to join."""
    if not phone:
        return None
    return session.exec(
        select(CallTask).where(
            CallTask.status == TaskStatus.OPEN.value,
            CallTask.target_kind == target_kind,
            CallTask.phone == phone,
            col(CallTask.recording_url).is_(None),
            col(CallTask.reason) != "voicemail",
        )
    ).first()


def rescript(session: Session, task: CallTask, *, now: datetime, settings: Settings) -> None:
    task.script = render_script(
        session,
        task.items,
        target_kind=task.target_kind,
        target_name=task.target_name,
        phone=task.phone,
        now=now,
        settings=settings,
    )


def create_task(
    session: Session, new: NewTask, *, now: datetime, settings: Settings | None = None
) -> CallTask:
    """A task for `new`; a workflow call to a person who already has an open task joins it
    (one call covers every vendor due to that person)."""
    s = settings or get_settings()
    vendor, agent = new.vendor, None
    if vendor is not None and vendor.agent_id is not None:
        agent = session.get(Agent, vendor.agent_id)
    if new.target_kind == "agent" and agent is not None:
        name, phone = agent.name, new.phone or agent.phone
    else:
        name = vendor.contact_name or vendor.name if vendor is not None else "unknown caller"
        phone = new.phone or (vendor.phone if vendor is not None else None)
    target_kind = new.target_kind if new.target_kind == "vendor" or agent else "vendor"
    workflow_call = new.script_template in ("call_agent", "call_vendor") and vendor is not None
    if workflow_call:
        joined = _merge_into(session, target_kind, phone)
        if joined is not None:
            if all(i.get("vendor_id") != vendor.id for i in joined.items):  # type: ignore[union-attr]
                joined.items = [*joined.items, _item(session, new, now=now, settings=s)]
                flag_modified(joined, "items")
            joined.priority = min(joined.priority, new.priority)
            joined.due_at = min(d for d in (joined.due_at, new.due_at) if d is not None)
            joined.updated_at = now
            rescript(session, joined, now=now, settings=s)
            session.add(joined)
            session.flush()
            return joined
    task = CallTask(
        case_id=new.case.id if new.case is not None else None,
        vendor_id=vendor.id if vendor is not None else None,
        delivery_id=new.delivery_id,
        target_kind=target_kind,
        target_name=name,
        phone=phone,
        reason=new.reason,
        priority=new.priority,
        due_at=new.due_at,
        recording_url=new.recording_url,
        outcome_data=dict(new.extra or {}),
        items=[_item(session, new, now=now, settings=s)],
        created_at=now,
        updated_at=now,
    )
    if workflow_call:
        rescript(session, task, now=now, settings=s)
    else:
        task.script = render.script(new.script_template, _callback_context(session, new, now))
    session.add(task)
    session.flush()
    return task


def _callback_context(session: Session, new: NewTask, now: datetime) -> dict[str, Any]:
    context: dict[str, Any] = {
        "reason": new.reason,
        "recording_url": new.recording_url,
        "vendor": None,
        "missing": [],
    }
    if new.vendor is not None:
        return {
            **template_context(
                session, new.vendor, now=now, case=new.case, recipient_kind=new.target_kind
            ),
            **context,
            "vendor": template_context(session, new.vendor, now=now)["vendor"],
        }
    context.update({"next_expiration": None, "expired_since": None})
    return context


def task_from_delivery(session: Session, delivery: Delivery, *, now: datetime) -> CallTask:
    """The call_task channel: the delivery's call (idempotent), joined to the person's open
    task when there is one."""
    found = session.exec(select(CallTask).where(CallTask.delivery_id == delivery.id)).first()
    if found is not None:
        return found
    for task in session.exec(
        select(CallTask).where(
            col(CallTask.status) != TaskStatus.DONE.value, CallTask.phone == delivery.recipient
        )
    ).all():
        if any(i.get("delivery_id") == delivery.id for i in task.items):
            return task
    vendor = session.get(Vendor, delivery.vendor_id) if delivery.vendor_id else None
    case = session.get(Case, delivery.case_id) if delivery.case_id else None
    template = (
        delivery.template
        if delivery.template in ("call_agent", "call_vendor", "find_contact")
        else ("call_agent" if delivery.recipient_kind == "agent" else "call_vendor")
    )
    due = delivery.next_attempt_at or now
    return create_task(
        session,
        NewTask(
            vendor=vendor,
            case=case,
            reason=delivery.step or "workflow",
            target_kind="agent" if template == "call_agent" else "vendor",
            script_template=template,
            due_at=due,
            delivery_id=delivery.id,
            priority=2 if case is not None and case.trigger == "expired" else 3,
            phone=delivery.recipient if delivery.recipient.startswith("+") else None,
        ),
        now=now,
    )


def list_tasks(
    session: Session,
    *,
    status: str | None = "open",
    limit: int = 100,
    now: datetime | None = None,
) -> list[CallTask]:
    """`status` open (with `now`: an ended reservation counts as open), claimed, wrapping,
    done, or None for all; most urgent first, then longest waiting."""
    query = select(CallTask)
    if status == TaskStatus.OPEN.value and now is not None:
        query = query.where(available(now))
    elif status:
        query = query.where(CallTask.status == status)
    query = query.order_by(col(CallTask.priority), col(CallTask.due_at), col(CallTask.id))
    return list(session.exec(query.limit(limit)).all())


def claim_task(
    session: Session,
    task_id: int,
    *,
    by: str,
    now: datetime,
    settings: Settings | None = None,
) -> CallTask:
    """Reserve the task for `by` for COMMS_CALL_RESERVATION_MINUTES (TaskConflict when
    someone else holds it)."""
    return task_states.claim(session, task_id, by=by, now=now, reservation=reservation(settings))


@dataclass(frozen=True)
class Disposition:
    outcome: str
    promised: date | None = None
    phone: str | None = None
    no_number: bool = False
    note: str = ""


def check_disposition(d: Disposition) -> tuple[str, dict[str, Any]]:
    """The workflow outcome and its data; TaskError for a disposition that cannot be
    recorded as given."""
    if d.outcome not in OUTCOMES:
        raise TaskError(f"outcome must be one of {', '.join(sorted(OUTCOMES))}, not {d.outcome!r}")
    outcome = OUTCOMES[d.outcome]
    data: dict[str, Any] = {}
    if d.note:
        data["note"] = d.note
    if outcome in ("reached", "promised"):
        if d.promised is not None:
            outcome = "promised"
            data["date"] = d.promised.isoformat()
        elif outcome == "promised":
            raise TaskError("promised: the date promised is required (--promised YYYY-MM-DD)")
    if outcome == "wrong_number":
        if d.phone:
            new = normalize(d.phone)
            if new is None:
                raise TaskError(f"--phone: not a valid phone number: {d.phone!r}")
            data["phone"] = new
        elif d.no_number:
            data["phone"] = None
            data["no_number_given"] = True
        else:
            raise TaskError(
                "wrong_number: give the new number (--phone), or --no-number when none was "
                "given (that number is then no longer dialed)"
            )
    return outcome, data


def complete_task(
    session: Session,
    task_id: int,
    outcome: str,
    *,
    by: str,
    now: datetime,
    promised: date | None = None,
    phone: str | None = None,
    note: str = "",
    no_number: bool = False,
    per_vendor: dict[int, Disposition] | None = None,
) -> CallTask:
    """Record the disposition (for each vendor the call covered: `per_vendor`, else the same
    one for all) and feed it to each case's workflow. One conditional UPDATE takes the task
    from its holder's hands to done: a second complete, or one by someone else, is a
    TaskConflict and writes nothing. The task as saved is returned."""
    finish_task(
        session,
        task_id,
        Disposition(outcome, promised, phone, no_number, note),
        by=by,
        now=now,
        per_vendor=per_vendor,
    )
    session.expire_all()
    done = session.get(CallTask, task_id)
    assert done is not None
    return done


def finish_task(
    session: Session,
    task_id: int,
    default: Disposition,
    *,
    by: str,
    now: datetime,
    per_vendor: dict[int, Disposition] | None = None,
) -> None:
    """`complete_task`, committed, without reading the task back (the call desk's save)."""
    outcome = default.outcome
    task = session.get(CallTask, task_id)
    if task is None:
        raise TaskError(f"no call task {task_id}")
    items = task.items or [
        {"vendor_id": task.vendor_id, "case_id": task.case_id, "delivery_id": task.delivery_id}
    ]
    plans = []
    for item in items:
        chosen = (per_vendor or {}).get(item.get("vendor_id") or 0, default)
        plans.append((item, chosen, *check_disposition(chosen)))
    first_data = plans[0][3] if plans else {}
    data = {**task.outcome_data, "task_id": task_id, "by": by, **first_data}
    done_items = [
        {**item, "outcome": chosen.outcome, "outcome_data": item_data}
        for item, chosen, _, item_data in plans
    ]
    if not task_states.mark_done(
        session, task_id, by=by, now=now, outcome=default.outcome, data=data, items=done_items
    ):
        raise task_states._conflict(session, task_id, f"complete it for {by}")
    for item, _chosen, workflow_outcome, item_data in plans:
        if workflow_outcome == "wrong_number":
            _wrong_number(session, task, item, item_data)
        case_id = item.get("case_id")
        if case_id is None:
            continue
        step = None
        if item.get("delivery_id") is not None:
            delivery = session.get(Delivery, item["delivery_id"])
            step = delivery.step if delivery is not None else None
        payload = {"task_id": task_id, "by": by, **item_data}
        if task.target_kind == "agent":
            payload.pop("phone", None)  # the agent's number, not the vendor's
        if step:
            payload["step"] = step
        try:
            record_outcome(session, case_id, workflow_outcome, now=now, data=payload)
        except (LookupError, ValueError) as exc:
            session.rollback()
            raise TaskError(f"case {case_id}: {exc}") from exc
    task_states.audit(
        session,
        actor=by,
        action="call_task.complete",
        entity_id=task_id,
        at=now,
        data={
            "outcome": outcome,
            "vendors": {str(i.get("vendor_id")): i["outcome"] for i in done_items},
        },
    )
    session.commit()


def _wrong_number(
    session: Session, task: CallTask, item: dict[str, Any], data: dict[str, Any]
) -> None:
    """The number dialed was wrong: the new one replaces it; none given: it is flagged and no
    longer dialed (the workflow's phone steps skip a flagged number)."""
    vendor = session.get(Vendor, item.get("vendor_id")) if item.get("vendor_id") else None
    person: Vendor | Agent | None = vendor
    if task.target_kind == "agent" and vendor is not None and vendor.agent_id is not None:
        person = session.get(Agent, vendor.agent_id)
    if person is None:
        return
    if data.get("phone"):
        person.phone = str(data["phone"])
        person.phone_invalid = False
    else:
        person.phone_invalid = True
    session.add(person)


def task_dict(task: CallTask) -> dict[str, Any]:
    return task.model_dump(mode="json")
