"""A call task's states, and the only ways between them: each one conditional UPDATE.

    open ──claim──▶ claimed (reserved for one caller until `reserved_until`)
      ▲               │  │ └─ the reservation ends: open again, by itself
      └──release──────┘  │
                         ▼ call / wrap-up
                      wrapping (stays with its caller until done or reassigned)
                         │
                         ▼ complete (a disposition)
                       done

Every transition is one `UPDATE … WHERE` on the state it leaves (and the holder), so two
callers can never hold one task, and a second concurrent complete changes nothing: it finds
the row already `done` and gets a `TaskConflict` (HTTP 409), with nothing written. An expired
reservation counts as open everywhere (`available`), and `expire_reservations` writes it back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, insert, or_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from comms.errors import PermanentError
from comms.models import AuditLog
from telephony.models import CallTask, TaskStatus

OPEN, CLAIMED, WRAPPING, DONE = (s.value for s in TaskStatus)
HELD = (CLAIMED, WRAPPING)
DEFAULT_RESERVATION = timedelta(minutes=15)
# the transitions are plain SQL on the tables (no ORM unit of work on the desk's hot path)
TASKS: Table = CallTask.__table__  # type: ignore[attr-defined]
AUDIT: Table = AuditLog.__table__  # type: ignore[attr-defined]
_AUDIT_ROW = insert(AUDIT)


class TaskError(PermanentError):
    """A task action that does not apply (unknown task, bad outcome data)."""

    code = "task"


class TaskConflict(TaskError):
    """The task is not in the state the action needs: someone else holds it, or it is done."""

    code = "task_conflict"


def available(now: datetime) -> ColumnElement[bool]:
    """Open, or claimed with a reservation that has ended."""
    return or_(
        TASKS.c.status == OPEN,
        and_(TASKS.c.status == CLAIMED, TASKS.c.reserved_until <= now),
    )


def _changed(session: Session, task_id: int, where: ColumnElement[bool], **values: Any) -> bool:
    result = session.execute(update(TASKS).where(TASKS.c.id == task_id, where).values(**values))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_id: int,
    at: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    """One audit row of a call task, in the caller's transaction."""
    session.execute(
        _AUDIT_ROW,
        {
            "at": at,
            "actor": actor,
            "action": action,
            "entity": "call_task",
            "entity_id": entity_id,
            "data": data or {},
        },
    )


def _conflict(session: Session, task_id: int, what: str) -> TaskError:
    session.rollback()
    task = session.get(CallTask, task_id)
    if task is None:
        return TaskError(f"no call task {task_id}")
    holder = f" by {task.claimed_by}" if task.claimed_by and task.status in HELD else ""
    return TaskConflict(f"call task {task_id} is {task.status}{holder}: cannot {what}")


def _reload(session: Session, task_id: int) -> CallTask:
    task = session.get(CallTask, task_id)
    assert task is not None
    session.refresh(task)
    return task


def claim(
    session: Session,
    task_id: int,
    *,
    by: str,
    now: datetime,
    reservation: timedelta = DEFAULT_RESERVATION,
) -> CallTask:
    """Reserve an available task for `by` until now + `reservation`. The caller who holds it
    claiming it again renews the reservation."""
    values = {
        "status": CLAIMED,
        "claimed_by": by,
        "claimed_at": now,
        "reserved_until": now + reservation,
        "updated_at": now,
    }
    mine = and_(TASKS.c.status == CLAIMED, TASKS.c.claimed_by == by)
    if not _changed(session, task_id, or_(available(now), mine), **values):
        raise _conflict(session, task_id, f"claim it for {by}")
    audit(session, actor=by, action="call_task.claim", entity_id=task_id, at=now)
    session.commit()
    return _reload(session, task_id)


# The statements of "next", built once (bound: `by`, `now`, `until`).
_HELD = (
    select(TASKS.c.id)
    .where(TASKS.c.claimed_by == bindparam("by"), TASKS.c.status.in_(HELD))
    .where(or_(TASKS.c.status == WRAPPING, TASKS.c.reserved_until > bindparam("now")))
    .order_by(TASKS.c.id)
    .limit(1)
)
_FIRST_OPEN = (
    select(TASKS.c.id)
    .where(TASKS.c.status == OPEN, TASKS.c.due_at <= bindparam("now"))
    .order_by(TASKS.c.priority, TASKS.c.due_at, TASKS.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_CLAIM_FIRST = (
    update(TASKS)
    .where(TASKS.c.id == _FIRST_OPEN, TASKS.c.status == OPEN)
    .values(
        status=CLAIMED,
        claimed_by=bindparam("by"),
        claimed_at=bindparam("now"),
        reserved_until=bindparam("until"),
        updated_at=bindparam("now"),
    )
    .returning(TASKS.c.id)
)
_ANY_DUE = (
    select(TASKS.c.id)
    .where(
        or_(
            TASKS.c.status == OPEN,
            and_(TASKS.c.status == CLAIMED, TASKS.c.reserved_until <= bindparam("now")),
        ),
        TASKS.c.due_at <= bindparam("now"),
    )
    .limit(1)
)
_EXPIRE = (
    update(TASKS)
    .where(TASKS.c.status == CLAIMED, TASKS.c.reserved_until <= bindparam("now"))
    .values(
        status=OPEN,
        claimed_by=None,
        claimed_at=None,
        reserved_until=None,
        updated_at=bindparam("now"),
    )
)


def held_id(session: Session, *, by: str, now: datetime) -> int | None:
    """The task `by` holds (being wrapped up, or reserved and not ended), if any."""
    found = session.execute(_HELD, {"by": by, "now": now}).scalar()
    return None if found is None else int(found)


def claim_next_id(
    session: Session,
    *,
    by: str,
    now: datetime,
    reservation: timedelta = DEFAULT_RESERVATION,
    tries: int = 5,
) -> int | None:
    """The caller's own held task, else the first task of the queue that is due, claimed by
    one conditional `UPDATE … WHERE id = (the first open task) AND status = 'open'` (on
    PostgreSQL the inner select skips rows other callers are claiming at that moment:
    `FOR UPDATE SKIP LOCKED`; SQLite runs one writer at a time). Reservations that have ended
    go back to the queue first (`expire_reservations`), so the pick reads open rows only,
    in the queue index's order. One transaction, committed here; the task's id."""
    held = held_id(session, by=by, now=now)
    if held is not None:
        session.rollback()
        return held
    _expire(session, now)
    values = {"by": by, "now": now, "until": now + reservation}
    for _ in range(tries):
        task_id = session.execute(_CLAIM_FIRST, values).scalar()
        if task_id is not None:
            audit(session, actor=by, action="call_task.claim", entity_id=task_id, at=now)
            session.commit()
            return int(task_id)
        # nothing open and due, or (PostgreSQL, READ COMMITTED) the row picked was taken
        # between the pick and the update: look again while there are open rows
        if session.execute(_ANY_DUE, {"now": now}).first() is None:
            break
    session.commit()  # the expired reservations given back
    return None


def claim_next(
    session: Session,
    *,
    by: str,
    now: datetime,
    reservation: timedelta = DEFAULT_RESERVATION,
) -> CallTask | None:
    """`claim_next_id`, and the task it claimed (or the one already held)."""
    task_id = claim_next_id(session, by=by, now=now, reservation=reservation)
    return None if task_id is None else _reload(session, task_id)


def release(session: Session, task_id: int, *, by: str, now: datetime) -> CallTask:
    """Give a reserved task back to the queue (not one being wrapped up)."""
    where = and_(TASKS.c.status == CLAIMED, TASKS.c.claimed_by == by)
    values = {
        "status": OPEN,
        "claimed_by": None,
        "claimed_at": None,
        "reserved_until": None,
        "updated_at": now,
    }
    if not _changed(session, task_id, where, **values):
        raise _conflict(session, task_id, f"release it for {by}")
    audit(session, actor=by, action="call_task.release", entity_id=task_id, at=now)
    session.commit()
    return _reload(session, task_id)


def start_wrapup(session: Session, task_id: int, *, by: str, now: datetime) -> CallTask:
    """The call is placed: the task stays with `by` until a disposition is saved (a reload
    or a closed tab finds it there). Idempotent for its holder."""
    where = and_(
        TASKS.c.claimed_by == by,
        or_(
            TASKS.c.status == WRAPPING,
            and_(TASKS.c.status == CLAIMED, TASKS.c.reserved_until > now),
        ),
    )
    if not _changed(session, task_id, where, status=WRAPPING, updated_at=now):
        raise _conflict(session, task_id, f"wrap it up for {by}")
    session.commit()
    return _reload(session, task_id)


def reassign(
    session: Session,
    task_id: int,
    *,
    to: str,
    by: str,
    now: datetime,
    reservation: timedelta = DEFAULT_RESERVATION,
) -> CallTask:
    """Hand a held (or open) task to `to`, e.g. a wrap-up its caller left; a task being
    wrapped up stays wrapping."""
    task = session.get(CallTask, task_id)
    if task is None:
        raise TaskError(f"no call task {task_id}")
    status, holder = task.status, task.claimed_by
    if status == DONE:
        raise _conflict(session, task_id, f"reassign it to {to}")
    same = and_(TASKS.c.status == status, TASKS.c.claimed_by.is_(None))
    if holder is not None:
        same = and_(TASKS.c.status == status, TASKS.c.claimed_by == holder)
    values = {
        "status": WRAPPING if status == WRAPPING else CLAIMED,
        "claimed_by": to,
        "claimed_at": now,
        "reserved_until": now + reservation,
        "updated_at": now,
    }
    if not _changed(session, task_id, same, **values):
        raise _conflict(session, task_id, f"reassign it to {to}")
    audit(
        session,
        actor=by,
        action="call_task.reassign",
        entity_id=task_id,
        at=now,
        data={"before": {"status": status, "claimed_by": holder}, "after": {"claimed_by": to}},
    )
    session.commit()
    return _reload(session, task_id)


def mark_done(
    session: Session,
    task_id: int,
    *,
    by: str,
    now: datetime,
    outcome: str,
    data: dict[str, Any],
    items: list[dict[str, Any]] | None = None,
) -> bool:
    """The holder's task (reserved or being wrapped up) → done, in the caller's transaction
    (with its items' outcomes, when given). False: it is not theirs to complete (nothing was
    written)."""
    where = and_(TASKS.c.status.in_(HELD), TASKS.c.claimed_by == by)
    more = {} if items is None else {"items": items}
    return _changed(
        session,
        task_id,
        where,
        **more,
        status=DONE,
        outcome=outcome,
        outcome_data=data,
        completed_at=now,
        reserved_until=None,
        updated_at=now,
    )


def _expire(session: Session, now: datetime) -> int:
    result = session.execute(_EXPIRE, {"now": now})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def reservations_ended(session: Session, *, now: datetime) -> bool:
    """Is any reservation over and not yet given back (a read, through the queue index)?"""
    found = session.exec(
        select(TASKS.c.id).where(TASKS.c.status == CLAIMED, TASKS.c.reserved_until <= now).limit(1)
    ).first()
    return found is not None


def expire_reservations(session: Session, *, now: datetime) -> int:
    """Reservations that have ended: back to the queue (committed). The number returned. The
    scheduler's pass calls it; so does every read of the queue and every "next"."""
    expired = _expire(session, now)
    session.commit()
    for task in [o for o in session.identity_map.values() if isinstance(o, CallTask)]:
        session.expire(task)  # read again when next used
    return expired
