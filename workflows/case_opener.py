"""The case opener of `comms tick`: the compliance case each active vendor's stored verdict
calls for, a batch of vendors at a time.

What it reads and writes is plain rows (Core statements, `workflows.records`), not ORM
objects: a batch's vendors, agents, stored verdicts and compliance cases are read in one query
each, and its new cases are written with one `INSERT … RETURNING` and their events with one
more. Only a vendor whose open case no longer fits its verdict (to switch or resolve) goes
through the per-vendor path (`workflows.lifecycle.sync_vendor`), as does every vendor of a
batch another scheduler opened a case for first (the unique index refuses the insert).

A new case is written as `workflows.lifecycle.open_case` writes it: its first step (late
offset steps recorded as skipped), its due time moved into the channel's window, and its
`opened` event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from comms.bulk_sql import among, insert_rows
from comms.compliance import Verdict
from comms.models import OPEN_STATES, Vendor
from comms.settings import Settings
from comms.stored_verdicts import case_candidates, roll, stored_for
from comms.verdict_inputs import chunks
from workflows.calendar import org_date
from workflows.definitions import Workflow, get_workflow
from workflows.lifecycle import (
    COMPLIANCE_TRIGGERS,
    keeps,
    latest_certificates,
    open_case,
    sync_vendor,
    wanted_for,
)
from workflows.records import AGENT_COLUMNS, VENDOR_COLUMNS, AgentRow, CaseRow, VendorRow
from workflows.timing import due_time, nominal_time, not_before_send_at, opening_index

BATCH = 500  # vendors read at a time
SKIPPED = "the case opened after this step's time"


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


@dataclass(frozen=True)
class Opening:
    """A compliance case to open for a vendor that has none open."""

    vendor: VendorRow
    wanted: tuple[str, date, str]  # trigger, trigger date, key
    reason: str


def open_scan(session: Session, *, now: datetime, settings: Settings) -> int:
    """Open (or switch, or resolve) the compliance case each active vendor's stored verdict
    calls for, after the daily roll has brought the stored verdicts to today. Returns the
    cases opened.

    Only the vendors whose stored verdict calls for a case (not compliant, or expiring within
    the workflow's horizon: two index ranges) and those with an open compliance case are read,
    a batch at a time; only those whose verdict calls for something other than what they have
    are touched."""
    day = org_date(now, settings)
    roll(session, day=day, now=now)
    horizon = get_workflow("expiring").horizon_days
    c = _table("case")
    with_open = set(session.connection().scalars(select(c.c.vendor_id).where(*_open_compliance(c))))
    candidates = with_open | set(case_candidates(session, day=day, horizon=horizon))
    opened = 0
    for chunk in chunks(candidates, BATCH):
        opened += _open_chunk(session, chunk, day=day, now=now, settings=settings, horizon=horizon)
    return opened


def _open_compliance(c: Table) -> tuple[Any, ...]:
    return (
        c.c.state.in_(OPEN_STATES),
        c.c.campaign_id == 0,
        c.c.trigger.in_(COMPLIANCE_TRIGGERS),
    )


def _open_chunk(
    session: Session,
    chunk: list[int],
    *,
    day: date,
    now: datetime,
    settings: Settings,
    horizon: int,
) -> int:
    conn = session.connection()
    v, c = _table("vendor"), _table("case")
    vendors = {
        row.id: row
        for row in (
            VendorRow._make(r)
            for r in conn.execute(
                select(*(v.c[n] for n in VENDOR_COLUMNS)).where(
                    among(conn, v.c.id, chunk), v.c.active.is_(True)
                )
            )
        )
    }
    have: dict[int, list[tuple[str, Any]]] = {}
    for vendor_id, trigger, data in conn.execute(
        select(c.c.vendor_id, c.c.trigger, c.c.data).where(
            among(conn, c.c.vendor_id, chunk), *_open_compliance(c)
        )
    ):
        have.setdefault(vendor_id, []).append((trigger, (data or {}).get("key")))
    verdicts = stored_for(session, chunk, day)
    deficient = [i for i, verdict in verdicts.items() if verdict.status.value == "non_compliant"]
    latest = latest_certificates(session, deficient)
    openings: list[Opening] = []
    switch: list[int] = []
    for vendor_id in chunk:
        vendor = vendors.get(vendor_id)
        verdict = verdicts.get(vendor_id)
        if vendor is None or verdict is None:  # inactive: its open cases stay as they are
            continue
        wanted = wanted_for(verdict, horizon_days=horizon, latest_certificate=latest.get(vendor_id))
        current = have.get(vendor_id, [])
        if current:
            if not (len(current) == 1 and keeps(current[0][0], current[0][1], wanted)):
                switch.append(vendor_id)  # switch or resolve: one vendor at a time
            continue
        if wanted is not None and not _calls_for_nothing(verdict, horizon):
            reason = f"scheduler scan; verdict is {verdict.status.value}"
            openings.append(Opening(vendor, wanted, reason))
    opened = 0
    for vendor_id in switch:
        opened += _switch(session, vendor_id, verdicts[vendor_id], now=now, settings=settings)
    return opened + open_many(session, openings, now=now, settings=settings)


def _switch(
    session: Session, vendor_id: int, verdict: Verdict, *, now: datetime, settings: Settings
) -> int:
    """The per-vendor path: make the vendor's open cases match its verdict; cases opened."""
    vendor = session.get(Vendor, vendor_id)
    assert vendor is not None
    c = _table("case")
    before = set(
        session.connection().scalars(
            select(c.c.id).where(c.c.vendor_id == vendor_id, *_open_compliance(c))
        )
    )
    after = sync_vendor(
        session, vendor, verdict, now=now, reason="scheduler scan", settings=settings
    )
    return sum(1 for case in after if case.id not in before)


def _calls_for_nothing(verdict: Verdict, horizon: int) -> bool:
    nxt = verdict.next_expiration
    return verdict.status.value == "compliant" and (
        nxt is None or (nxt - verdict.as_of).days > horizon
    )


def open_many(
    session: Session, openings: list[Opening], *, now: datetime, settings: Settings
) -> int:
    """Open the cases of `openings` (vendors with no open compliance case) in a few
    statements: their earlier cases and agents read at once, the new cases written with one
    insert and their events with another. When another scheduler opened one of them first
    (the unique index refuses the insert), each is opened one by one instead. Returns the
    cases opened."""
    if not openings:
        return 0
    conn = session.connection()
    c, a = _table("case"), _table("agent")
    ids = [o.vendor.id for o in openings]
    earlier: dict[tuple[int, str], list[tuple[str, Any]]] = {}
    for vendor_id, trigger, state, data in conn.execute(
        select(c.c.vendor_id, c.c.trigger, c.c.state, c.c.data).where(
            among(conn, c.c.vendor_id, ids), c.c.campaign_id == 0
        )
    ):
        earlier.setdefault((vendor_id, trigger), []).append((state, (data or {}).get("key")))
    agent_ids = sorted({o.vendor.agent_id for o in openings if o.vendor.agent_id})
    agents = {
        row.id: row
        for row in (
            AgentRow._make(r)
            for r in conn.execute(
                select(*(a.c[n] for n in AGENT_COLUMNS)).where(among(conn, a.c.id, agent_ids))
            )
        )
    }
    planned: list[tuple[Opening, Workflow, dict[str, Any], list[dict[str, Any]]]] = []
    for o in openings:
        trigger, _, key = o.wanted
        wf = get_workflow(trigger)
        seen = earlier.get((o.vendor.id, wf.trigger), [])
        if any(k == key or state in OPEN_STATES for state, k in seen):
            continue
        agent = agents.get(o.vendor.agent_id) if o.vendor.agent_id else None
        row, events = _new_case(o, wf, agent, now=now, settings=settings)
        planned.append((o, wf, row, events))
    if not planned:
        return 0
    savepoint = session.begin_nested()
    try:
        returned = insert_rows(
            conn, c, [row for _, _, row, _ in planned], returning=("id", "vendor_id")
        )
    except IntegrityError:  # another scheduler was first for one of them: one by one
        savepoint.rollback()
        return _one_by_one(
            session, [(o, wf) for o, wf, _, _ in planned], now=now, settings=settings
        )
    savepoint.commit()
    case_ids = {vendor_id: case_id for case_id, vendor_id in returned}
    insert_rows(
        conn,
        _table("case_event"),
        [
            {**event, "case_id": case_ids[o.vendor.id]}
            for o, _, _, events in planned
            for event in events
        ],
    )
    return len(planned)


def _new_case(
    o: Opening, wf: Workflow, agent: AgentRow | None, *, now: datetime, settings: Settings
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A new case's row at its first step and due time, and its events (without the case
    id): what `workflows.lifecycle.open_case` writes."""
    _, trigger_date, key = o.wanted
    case = CaseRow(
        id=0,
        vendor_id=o.vendor.id,
        trigger=wf.trigger,
        workflow=wf.name,
        campaign_id=0,
        state="active",
        step_index=0,
        trigger_date=trigger_date,
        next_action_at=None,
        snoozed_until=None,
        step_attempts=0,
        last_outcome=None,
        data={"key": key},
        updated_at=now,
        resolved_at=None,
    )
    start = opening_index(case, wf, now, settings)
    nominal = nominal_time(case, wf, start, now, settings)
    if nominal < now:
        nominal = not_before_send_at(now, wf, settings)
    row = {
        "vendor_id": case.vendor_id,
        "trigger": wf.trigger,
        "workflow": wf.name,
        "campaign_id": 0,
        "state": "active",
        "step_index": start,
        "trigger_date": trigger_date,
        "next_action_at": due_time(wf.steps[start], nominal, o.vendor, agent, settings),
        "snoozed_until": None,
        "paused_state": None,
        "step_attempts": 0,
        "last_outcome": None,
        "data": {"key": key, "nominal": nominal.isoformat()},
        "created_at": now,
        "updated_at": now,
        "resolved_at": None,
    }
    events = [
        _event("step_skipped", now, step=skipped.id, reason=SKIPPED) for skipped in wf.steps[:start]
    ]
    events.append(
        _event(
            "opened",
            now,
            reason=o.reason,
            to_state="active",
            data={"workflow": wf.name, "trigger_date": trigger_date.isoformat(), "key": key},
        )
    )
    return row, events


def _event(
    kind: str,
    now: datetime,
    *,
    step: str | None = None,
    reason: str = "",
    to_state: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "at": now,
        "kind": kind,
        "step": step,
        "reason": reason,
        "from_state": None,
        "to_state": to_state,
        "data": data or {},
    }


def _one_by_one(
    session: Session,
    openings: Iterable[tuple[Opening, Workflow]],
    *,
    now: datetime,
    settings: Settings,
) -> int:
    opened = 0
    for o, wf in openings:
        vendor = session.get(Vendor, o.vendor.id)
        assert vendor is not None
        _, trigger_date, key = o.wanted
        case = open_case(
            session,
            vendor,
            wf,
            now=now,
            trigger_date=trigger_date,
            key=key,
            reason=o.reason,
            settings=settings,
        )
        opened += case is not None
    return opened


__all__ = ["BATCH", "Opening", "open_many", "open_scan"]
