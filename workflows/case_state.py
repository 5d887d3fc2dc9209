"""A case's timeline and state: every transition is a CaseEvent with its reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from comms.models import OPEN_STATES, Case, CaseEvent

CLOSING_STATES = ("resolved", "exhausted", "paused")  # no next action
FINAL_STATES = ("resolved", "exhausted")


def add_event(
    session: Session,
    case: Case,
    kind: str,
    *,
    now: datetime,
    reason: str = "",
    step: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    assert case.id is not None
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            kind=kind,
            step=step,
            reason=reason,
            from_state=from_state,
            to_state=to_state,
            data=data or {},
        )
    )


def set_state(
    session: Session, case: Case, state: str, *, now: datetime, reason: str, kind: str | None = None
) -> None:
    old = case.state
    case.state = state
    case.updated_at = now
    if state in CLOSING_STATES:
        case.next_action_at = None
    if state in FINAL_STATES:
        case.resolved_at = now
    session.add(case)
    add_event(session, case, kind or state, now=now, reason=reason, from_state=old, to_state=state)


def resolve_case(session: Session, case: Case, *, now: datetime, reason: str) -> None:
    if case.state in OPEN_STATES:
        set_state(session, case, "resolved", now=now, reason=reason)
