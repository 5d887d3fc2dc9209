"""Call-center tasks: created by workflow steps and IVR choices, claimed by one staff member
at a time (an atomic conditional UPDATE), completed with an outcome fed back to the case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from comms.context import template_context
from comms.errors import PermanentError
from comms.models import Agent, Case, Delivery, Vendor, audit
from telephony import render
from telephony.models import CallTask, TaskStatus
from telephony.phone import normalize
from workflows.lifecycle import record_outcome

#: staff outcome → workflow outcome
OUTCOMES: dict[str, str] = {
    "reached": "promised",
    "promised": "promised",
    "voicemail": "voicemail_left",
    "voicemail_left": "voicemail_left",
    "no_answer": "no_answer",
    "wrong_number": "wrong_number",
    "resolved": "resolved",
}


class TaskError(PermanentError):
    """A task action that does not apply (unknown task, not yours, bad outcome data)."""

    code = "task"


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


def create_task(session: Session, new: NewTask, *, now: datetime) -> CallTask:
    vendor, agent = new.vendor, None
    if vendor is not None and vendor.agent_id is not None:
        agent = session.get(Agent, vendor.agent_id)
    if new.target_kind == "agent" and agent is not None:
        name, phone = agent.name, new.phone or agent.phone
    else:
        name = vendor.contact_name or vendor.name if vendor is not None else "unknown caller"
        phone = new.phone or (vendor.phone if vendor is not None else None)
    context: dict[str, Any] = {
        "reason": new.reason,
        "recording_url": new.recording_url,
        "vendor": None,
        "missing": [],
    }
    if vendor is not None:
        context = {
            **template_context(
                session, vendor, now=now, case=new.case, recipient_kind=new.target_kind
            ),
            **context,
            "vendor": template_context(session, vendor, now=now)["vendor"],
        }
    else:
        context.update({"next_expiration": None, "expired_since": None})
    task = CallTask(
        case_id=new.case.id if new.case is not None else None,
        vendor_id=vendor.id if vendor is not None else None,
        delivery_id=new.delivery_id,
        target_kind=new.target_kind if new.target_kind == "vendor" or agent else "vendor",
        target_name=name,
        phone=phone,
        reason=new.reason,
        script=render.script(new.script_template, context),
        priority=new.priority,
        due_at=new.due_at,
        recording_url=new.recording_url,
        outcome_data=dict(new.extra or {}),
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    return task


def task_from_delivery(session: Session, delivery: Delivery, *, now: datetime) -> CallTask:
    """The call_task channel: one task per delivery (idempotent)."""
    found = session.exec(select(CallTask).where(CallTask.delivery_id == delivery.id)).first()
    if found is not None:
        return found
    vendor = session.get(Vendor, delivery.vendor_id) if delivery.vendor_id else None
    case = session.get(Case, delivery.case_id) if delivery.case_id else None
    template = (
        delivery.template
        if delivery.template in ("call_agent", "call_vendor")
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
    session: Session, *, status: str | None = "open", limit: int = 100
) -> list[CallTask]:
    query = select(CallTask)
    if status:
        query = query.where(CallTask.status == status)
    query = query.order_by(col(CallTask.priority), col(CallTask.due_at), col(CallTask.id))
    return list(session.exec(query.limit(limit)).all())


def claim_task(session: Session, task_id: int, *, by: str, now: datetime) -> CallTask:
    """Atomically open → claimed for `by`. Raises TaskError when someone else has it."""
    result = session.execute(
        update(CallTask)
        .where(col(CallTask.id) == task_id, col(CallTask.status) == TaskStatus.OPEN.value)
        .values(status=TaskStatus.CLAIMED.value, claimed_by=by, claimed_at=now, updated_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        task = session.get(CallTask, task_id)
        if task is None:
            raise TaskError(f"no call task {task_id}")
        raise TaskError(
            f"call task {task_id} is {task.status}"
            + (f" by {task.claimed_by}" if task.claimed_by else "")
        )
    audit(
        session, actor=by, action="call_task.claim", entity="call_task", entity_id=task_id, at=now
    )
    session.commit()
    task = session.get(CallTask, task_id)
    assert task is not None
    session.refresh(task)
    return task


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
) -> CallTask:
    """Record the outcome and feed it to the case's workflow."""
    if outcome not in OUTCOMES:
        raise TaskError(f"outcome must be one of {', '.join(sorted(OUTCOMES))}, not {outcome!r}")
    task = session.get(CallTask, task_id)
    if task is None:
        raise TaskError(f"no call task {task_id}")
    if task.status != TaskStatus.CLAIMED.value or task.claimed_by != by:
        raise TaskError(f"call task {task_id} is not claimed by {by}; claim it first")
    data: dict[str, Any] = {"task_id": task_id, "by": by}
    if note:
        data["note"] = note
    workflow_outcome = OUTCOMES[outcome]
    if outcome in ("reached", "promised"):
        if promised is None:
            workflow_outcome = "reached"
        else:
            data["date"] = promised.isoformat()
    if outcome == "wrong_number" and phone:
        new = normalize(phone)
        if new is None:
            raise TaskError(f"--phone: not a valid phone number: {phone!r}")
        data["phone"] = new
    task.status = TaskStatus.DONE.value
    task.outcome = outcome
    task.outcome_data = {**task.outcome_data, **data}
    task.completed_at = task.updated_at = now
    session.add(task)
    if task.case_id is not None:
        step = None
        if task.delivery_id is not None:
            delivery = session.get(Delivery, task.delivery_id)
            step = delivery.step if delivery is not None else None
        payload = {**data, "step": step} if step else data
        try:
            record_outcome(session, task.case_id, workflow_outcome, now=now, data=payload)
        except (LookupError, ValueError) as exc:
            raise TaskError(f"case {task.case_id}: {exc}") from exc
    audit(
        session,
        actor=by,
        action="call_task.complete",
        entity="call_task",
        entity_id=task_id,
        at=now,
        data={"outcome": outcome},
    )
    session.commit()
    return task


def task_dict(task: CallTask) -> dict[str, Any]:
    return task.model_dump(mode="json")
