"""Opening, resolving, pausing and resuming cases, and what outcomes do to them.

A vendor has at most one open compliance case (expiring, deficient or missing): a new trigger
joins the open case, which takes the new trigger's ladder (`join_case`); the database's
partial unique index forbids two open cases of one trigger for one vendor. Every transition is
recorded as a CaseEvent with its reason (`workflows.case_state`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from comms.compliance import Status, Verdict
from comms.errors import PermanentError
from comms.models import OPEN_STATES, Agent, Case, Certificate, Vendor, audit
from comms.settings import Settings, get_settings
from comms.stored_verdicts import refresh_vendor
from workflows.case_state import add_event, resolve_case, set_state
from workflows.definitions import Workflow, get_workflow
from workflows.outcomes import record_outcome  # applying outcomes, here with the lifecycle
from workflows.timing import due_time, nominal_time, not_before_send_at, opening_index

log = logging.getLogger(__name__)

COMPLIANCE_TRIGGERS = ("expiring", "deficient", "missing")


class CaseError(PermanentError):
    """A staff action that does not apply to the case in its current state."""

    code = "case_state"


# --- what the verdict asks for ---------------------------------------------------------------


def wanted_case(
    session: Session, vendor: Vendor, verdict: Verdict, *, horizon_days: int = 30
) -> tuple[str, date, str] | None:
    """(trigger, trigger date, key) of the case this verdict calls for, or None."""
    latest: int | None = None
    if verdict.status == Status.NON_COMPLIANT:
        latest = latest_certificate_id(session, vendor.id or 0)
    return wanted_for(verdict, horizon_days=horizon_days, latest_certificate=latest)


def latest_certificate_id(session: Session, vendor_id: int) -> int | None:
    """The vendor's newest accepted certificate (the key of a `deficient` case)."""
    return session.exec(
        select(Certificate.id)
        .where(col(Certificate.vendor_id) == vendor_id, col(Certificate.status) == "accepted")
        .order_by(col(Certificate.received_at).desc(), col(Certificate.id).desc())
    ).first()


def latest_certificates(session: Session, vendor_ids: list[int]) -> dict[int, int]:
    """`latest_certificate_id` of many vendors, in one query."""
    out: dict[int, int] = {}
    if not vendor_ids:
        return out
    for vendor_id, cert_id, status in session.exec(
        select(Certificate.vendor_id, Certificate.id, Certificate.status)
        .where(col(Certificate.vendor_id).in_(vendor_ids))  # the status tested below
        .order_by(
            col(Certificate.vendor_id),
            col(Certificate.received_at).desc(),
            col(Certificate.id).desc(),
        )
    ).all():
        if cert_id is not None and status == "accepted":
            out.setdefault(vendor_id, cert_id)
    return out


def wanted_for(
    verdict: Verdict, *, horizon_days: int, latest_certificate: int | None
) -> tuple[str, date, str] | None:
    """`wanted_case` without the database: `latest_certificate` is the vendor's newest accepted
    certificate id (read only for a non-compliant verdict)."""
    today = verdict.as_of
    if verdict.status == Status.MISSING:
        return "missing", today, "missing"
    if verdict.status == Status.EXPIRED:
        since = verdict.expired_since or today
        return "expiring", since, f"exp:{since.isoformat()}"
    if verdict.status == Status.NON_COMPLIANT:
        return "deficient", today, f"cert:{latest_certificate}"
    nxt = verdict.next_expiration
    if nxt is not None and (nxt - today).days <= horizon_days:
        return "expiring", nxt, f"exp:{nxt.isoformat()}"
    return None


def keeps(case_trigger: str, case_key: object, wanted: tuple[str, date, str] | None) -> bool:
    """Whether an open compliance case is the one the verdict calls for."""
    return (
        wanted is not None
        and case_trigger == wanted[0]
        and (case_trigger == "missing" or case_key == wanted[2])
    )


def resolve_reason(
    vendor_active: bool, verdict: Verdict, wanted: tuple[str, date, str] | None, case_trigger: str
) -> str:
    """Why an open compliance case that the verdict no longer calls for is resolved."""
    if wanted is None:
        return "vendor inactive" if not vendor_active else f"verdict is {verdict.status.value}"
    if case_trigger == wanted[0]:
        return f"superseded: {wanted[2]}"
    return f"verdict is {verdict.status.value}: switching to {wanted[0]}"


def open_cases(session: Session, vendor_id: int) -> list[Case]:
    return list(
        session.exec(
            select(Case).where(
                col(Case.vendor_id) == vendor_id,
                col(Case.state).in_(OPEN_STATES),
                col(Case.campaign_id) == 0,
                col(Case.trigger).in_(COMPLIANCE_TRIGGERS),
            )
        ).all()
    )


def open_case(
    session: Session,
    vendor: Vendor,
    wf: Workflow,
    *,
    now: datetime,
    trigger_date: date,
    key: str,
    reason: str,
    settings: Settings,
    campaign_id: int = 0,
    data: dict[str, Any] | None = None,
) -> Case | None:
    """Open a case unless one with this trigger and key exists (in any state)."""
    existing = session.exec(
        select(Case).where(
            col(Case.vendor_id) == vendor.id,
            col(Case.trigger) == wf.trigger,
            col(Case.campaign_id) == campaign_id,
        )
    ).all()
    if any(c.data.get("key") == key or c.state in OPEN_STATES for c in existing):
        return None
    assert vendor.id is not None
    case = Case(
        vendor_id=vendor.id,
        trigger=wf.trigger,
        workflow=wf.name,
        campaign_id=campaign_id,
        state="active",
        trigger_date=trigger_date,
        created_at=now,
        updated_at=now,
        data={"key": key, **(data or {})},
    )
    try:
        with session.begin_nested():
            session.add(case)
            session.flush()
    except IntegrityError:  # another scheduler opened it first
        return None
    agent = session.get(Agent, vendor.agent_id) if vendor.agent_id else None
    _start(
        session,
        case,
        wf,
        vendor,
        agent,
        now=now,
        trigger_date=trigger_date,
        key=key,
        reason=reason,
        settings=settings,
    )
    return case


def _start(
    session: Session,
    case: Case,
    wf: Workflow,
    vendor: Vendor,
    agent: Agent | None,
    *,
    now: datetime,
    trigger_date: date,
    key: str,
    reason: str,
    settings: Settings,
) -> None:
    """A new (flushed) case's first step and due time, and its events."""
    start = opening_index(case, wf, now, settings)
    for skipped in wf.steps[:start]:
        add_event(
            session,
            case,
            "step_skipped",
            now=now,
            step=skipped.id,
            reason="the case opened after this step's time",
        )
    case.step_index = start
    nominal = nominal_time(case, wf, start, now, settings)
    if nominal < now:
        nominal = not_before_send_at(now, wf, settings)
    case.next_action_at = due_time(wf.steps[start], nominal, vendor, agent, settings)
    case.data = {**case.data, "nominal": nominal.isoformat()}
    session.add(case)
    add_event(
        session,
        case,
        "opened",
        now=now,
        reason=reason,
        to_state="active",
        data={"workflow": wf.name, "trigger_date": trigger_date.isoformat(), "key": key},
    )


def join_case(
    session: Session,
    case: Case,
    vendor: Vendor,
    wf: Workflow,
    *,
    now: datetime,
    trigger_date: date,
    key: str,
    reason: str,
    settings: Settings,
) -> None:
    """A new trigger joins the vendor's open case: at most one conversation per vendor. The
    case takes the trigger's ladder (the verdict's case: missing, then expired, deficient,
    expiring) from where a case opened now would start, keeping its id, history and state."""
    before = {"trigger": case.trigger, "workflow": case.workflow, "key": case.data.get("key")}
    case.trigger, case.workflow, case.trigger_date = wf.trigger, wf.name, trigger_date
    case.step_attempts = 0
    case.last_outcome = None
    start = opening_index(case, wf, now, settings)
    case.step_index = start
    nominal = nominal_time(case, wf, start, now, settings)
    if nominal < now:
        nominal = not_before_send_at(now, wf, settings)
    agent = session.get(Agent, vendor.agent_id) if vendor.agent_id else None
    due = due_time(wf.steps[start], nominal, vendor, agent, settings)
    data = {
        **case.data,
        "key": key,
        "nominal": nominal.isoformat(),
        "ladder": int(case.data.get("ladder", 0)) + 1,
    }
    data.pop("unreachable", None)
    if case.state == "paused":
        data["paused_next_action_at"] = due.isoformat()
    else:
        case.next_action_at = due
    case.data = data
    case.updated_at = now
    session.add(case)
    session.flush()
    add_event(
        session,
        case,
        "joined",
        now=now,
        reason=f"{reason}: now the {wf.name} ladder (was {before['workflow']})",
        data={"from": before, "to": {"trigger": wf.trigger, "workflow": wf.name, "key": key}},
    )


def sync_vendor(
    session: Session,
    vendor: Vendor,
    verdict: Verdict,
    *,
    now: datetime,
    reason: str,
    settings: Settings | None = None,
) -> list[Case]:
    """Make the vendor's open compliance cases match its verdict. Returns the open ones."""
    settings = settings or get_settings()
    horizon = get_workflow("expiring").horizon_days
    wanted = (
        None if not vendor.active else wanted_case(session, vendor, verdict, horizon_days=horizon)
    )
    current = open_cases(session, vendor.id or 0)
    keep: list[Case] = []
    for case in current:
        if keeps(case.trigger, case.data.get("key"), wanted):
            keep.append(case)
            continue
        if wanted is not None and not keep:  # one conversation: the new trigger joins it
            trigger, trigger_date, key = wanted
            join_case(
                session,
                case,
                vendor,
                get_workflow(trigger),
                now=now,
                trigger_date=trigger_date,
                key=key,
                reason=f"{reason}; verdict is {verdict.status.value}",
                settings=settings,
            )
            keep.append(case)
            continue
        why = resolve_reason(vendor.active, verdict, wanted, case.trigger)
        resolve_case(session, case, now=now, reason=f"{reason}; {why}")
    if wanted is not None and not keep:
        trigger, trigger_date, key = wanted
        new = open_case(
            session,
            vendor,
            get_workflow(trigger),
            now=now,
            trigger_date=trigger_date,
            key=key,
            reason=f"{reason}; verdict is {verdict.status.value}",
            settings=settings,
        )
        if new is not None:
            keep.append(new)
    session.flush()
    return keep


def reevaluate_vendor(
    session: Session, vendor_id: int, *, now: datetime, reason: str
) -> list[Case]:
    """Recompute the vendor's verdict now; resolve cases it no longer calls for, open (or
    switch to) the one it does. Called after a certificate arrives. Returns the open cases."""
    settings = get_settings()
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        raise LookupError(f"no vendor {vendor_id}")
    verdict = refresh_vendor(session, vendor_id, now=now, reason=reason)
    return sync_vendor(session, vendor, verdict, now=now, reason=reason, settings=settings)


# --- staff actions ---------------------------------------------------------------------------


def pause_case(
    session: Session, case: Case, *, now: datetime, by: str = "staff", reason: str = ""
) -> None:
    if case.state not in ("active", "waiting"):
        raise CaseError(f"case {case.id} is {case.state}; only active or waiting cases pause")
    case.paused_state = case.state
    case.data = {
        **case.data,
        "paused_next_action_at": case.next_action_at.isoformat() if case.next_action_at else None,
    }
    set_state(session, case, "paused", now=now, reason=reason or f"paused by {by}")
    audit(session, actor=by, action="case.pause", entity="case", entity_id=case.id, at=now)


def resume_case(
    session: Session, case: Case, *, now: datetime, by: str = "staff", reason: str = ""
) -> None:
    """Resume: a step that fell due while paused is due now (the verdict is rechecked first)."""
    if case.state != "paused":
        raise CaseError(f"case {case.id} is {case.state}, not paused")
    was = case.data.get("paused_next_action_at")
    planned = datetime.fromisoformat(was) if was else now
    set_state(
        session,
        case,
        case.paused_state or "active",
        now=now,
        reason=reason or f"resumed by {by}",
        kind="resumed",
    )
    case.paused_state = None
    case.next_action_at = max(planned, now)
    session.add(case)
    audit(session, actor=by, action="case.resume", entity="case", entity_id=case.id, at=now)


__all__ = [
    "COMPLIANCE_TRIGGERS",
    "CaseError",
    "add_event",
    "join_case",
    "open_case",
    "open_cases",
    "pause_case",
    "record_outcome",
    "reevaluate_vendor",
    "resolve_case",
    "resume_case",
    "set_state",
    "sync_vendor",
    "wanted_case",
]
