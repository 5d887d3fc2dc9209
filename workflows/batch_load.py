"""Claim a batch of due cases (or read named ones, for the per-case path) and load, in a few
queries, everything planning them (`workflows.planner`) reads:
vendors, agents, verdicts (profiles, certificates and their policies), whether a vendor has
another open compliance case, campaigns, unabsorbed delivery failures and, when a step's
condition needs it, each case's newest delivery status per channel. The claim itself reads
most of it (one statement); the rest is queried only when a batch has any.

Rows are read with Core statements into plain records (`workflows.records`), not ORM objects:
hydrating thousands of ORM objects would cost more than planning them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import BindParameter, Select, Subquery, Table, bindparam, exists, func, select
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as orm_select

from comms.bulk_sql import among
from comms.compliance import Verdict
from comms.models import OPEN_STATES
from comms.models.cases import FAILURE_KINDS
from comms.stored_verdicts import stored_for
from comms.verdict_inputs import COUNTING_STATUSES, load_inputs
from workflows.case_workflow import campaign_workflow
from workflows.definitions import Workflow, get_workflow
from workflows.lifecycle import COMPLIANCE_TRIGGERS
from workflows.models import Campaign
from workflows.records import (
    AGENT_COLUMNS,
    CASE_COLUMNS,
    VENDOR_COLUMNS,
    AgentRow,
    CaseRow,
    VendorRow,
)

STATUS_CONDITIONS = {"last_email_bounced": "email", "last_sms_failed": "sms"}


def table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


@dataclass
class BatchData:
    vendors: dict[int, VendorRow] = field(default_factory=dict)
    agents: dict[int, AgentRow] = field(default_factory=dict)
    verdicts: dict[int, Verdict] = field(default_factory=dict)
    with_certificate: set[int] = field(default_factory=set)  # vendors with one that counts
    latest_certificate: dict[int, int] = field(default_factory=dict)  # newest accepted
    other_open: set[int] = field(default_factory=set)  # cases whose vendor has another open
    # compliance case
    campaigns: dict[int, Campaign] = field(default_factory=dict)
    workflows: dict[int, Workflow] = field(default_factory=dict)  # case id → its workflow
    newest_failure: dict[int, int] = field(default_factory=dict)  # case id → event id
    last_status: dict[tuple[int, str], str] = field(default_factory=dict)
    # planning's memo: `next_schedule` results by everything they depend on
    schedules: dict[tuple[Any, ...], tuple[datetime, str | None]] = field(default_factory=dict)


def claim_batch(session: Session, *, now: datetime, limit: int) -> tuple[list[CaseRow], BatchData]:
    """Claim the due cases, oldest first, locked for this transaction (PostgreSQL: FOR UPDATE
    SKIP LOCKED, so concurrent schedulers take disjoint batches; SQLite: the transaction
    already holds the write lock), in one statement (`claim_statement`) that also reads each
    case's vendor and agent, its newest delivery-failure event, whether its vendor has
    another open compliance case, and the vendor's certificates that matter to its verdict."""
    postgres = session.get_bind().dialect.name == "postgresql"
    return _read(session, claim_statement(now=now, limit=limit, skip_locked=postgres))


def read_cases(session: Session, case_ids: list[int]) -> tuple[list[CaseRow], BatchData]:
    """What `claim_batch` reads, for the named cases (due or not, not locked: the caller
    holds them), in the order of their ids. The per-case path plans with it."""
    t = table("case")
    chosen = select(*(t.c[n] for n in CASE_COLUMNS)).where(t.c.id.in_(case_ids))
    return _read(session, _with_facts(chosen.subquery("chosen"), order=("id",)))


def _read(session: Session, query: Select[Any]) -> tuple[list[CaseRow], BatchData]:
    cases: list[CaseRow] = []
    data = BatchData()
    nc, nv, na = len(CASE_COLUMNS), len(VENDOR_COLUMNS), len(AGENT_COLUMNS)
    for row in session.connection().execute(query).all():
        case = CaseRow(*row[:nc])
        cases.append(case)
        if row[nc] is not None:
            data.vendors[row[nc]] = VendorRow._make(row[nc : nc + nv])
        if row[nc + nv] is not None:
            data.agents[row[nc + nv]] = AgentRow._make(row[nc + nv : nc + nv + na])
        failure, open_cases, newest, has_cert = row[nc + nv + na :]
        if failure is not None:
            data.newest_failure[case.id] = failure
        if open_cases > 1:  # for a compliance case: another is open
            data.other_open.add(case.id)
        if newest is not None:
            data.latest_certificate[case.vendor_id] = newest
        if has_cert:
            data.with_certificate.add(case.vendor_id)
    return cases, data


def claim_statement(*, now: datetime, limit: int, skip_locked: bool) -> Select[Any]:
    """The claim of `claim_batch`: the due rows are taken (and locked) first, in the order of
    the `ix_case_due` index (due time, then id), and the joins and subqueries run for those
    rows only; the newest failure reads the partial `ix_case_event_failures` index."""
    t = table("case")
    claim = (
        select(*(t.c[n] for n in CASE_COLUMNS))
        .where(t.c.next_action_at <= now, t.c.state.in_(("active", "waiting")))
        .order_by(t.c.next_action_at, t.c.id)
        .limit(limit)
    )
    if skip_locked:
        claim = claim.with_for_update(skip_locked=True)
    return _with_facts(claim.subquery("claimed"), order=("next_action_at", "id"))


def _with_facts(c: Subquery, *, order: tuple[str, ...]) -> Select[Any]:
    """The cases of `c` with their vendor, agent and the facts `_read` reads."""
    v, a = table("vendor"), table("agent")
    events, cert, other = table("case_event"), table("certificate"), table("case").alias("o")
    # the kinds inline, so that even a generic plan reads the small partial index of them
    kinds: BindParameter[str] = bindparam(
        "failure_kinds", FAILURE_KINDS, expanding=True, literal_execute=True
    )
    newest_failure = (
        select(func.max(events.c.id))
        .where(events.c.case_id == c.c.id, events.c.kind.in_(kinds))
        .scalar_subquery()
    )
    # the vendor's open compliance cases, this one included (an index-only count)
    open_compliance = (
        select(func.count())
        .where(
            other.c.vendor_id == c.c.vendor_id,
            other.c.state.in_(OPEN_STATES),
            other.c.campaign_id == 0,
            other.c.trigger.in_(COMPLIANCE_TRIGGERS),
        )
        .scalar_subquery()
    )
    latest = (
        select(cert.c.id)
        .where(cert.c.vendor_id == c.c.vendor_id, cert.c.status == "accepted")
        .order_by(cert.c.received_at.desc(), cert.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    counted = exists().where(
        cert.c.vendor_id == c.c.vendor_id, cert.c.status.in_(COUNTING_STATUSES)
    )
    return (
        select(
            *(c.c[n] for n in CASE_COLUMNS),
            *(v.c[n] for n in VENDOR_COLUMNS),
            *(a.c[n] for n in AGENT_COLUMNS),
            newest_failure,
            open_compliance,
            latest,
            counted,
        )
        .select_from(c.outerjoin(v, v.c.id == c.c.vendor_id).outerjoin(a, a.c.id == v.c.agent_id))
        .order_by(*(c.c[n] for n in order))
    )


def load_batch(session: Session, cases: list[CaseRow], data: BatchData, *, as_of: date) -> None:
    """The rest of what planning reads: verdicts (profiles and policies), campaigns, the
    workflows, and the newest delivery statuses the steps' conditions ask for."""
    if not cases:
        return
    _load_verdicts(session, data, as_of)
    campaign_ids = _ids(c.campaign_id for c in cases if c.campaign_id)
    if campaign_ids:
        for campaign in session.exec(
            orm_select(Campaign).where(col(Campaign.id).in_(campaign_ids))
        ).all():
            data.campaigns[campaign.id or 0] = campaign
    by_campaign = {cid: campaign_workflow(c) for cid, c in data.campaigns.items()}
    for case in cases:
        wf = by_campaign.get(case.campaign_id) if case.campaign_id else _workflow(case.workflow)
        if wf is not None:
            data.workflows[case.id] = wf
    _load_last_status(session, data, cases)


def _ids(values: Iterable[int | None]) -> list[int]:
    return sorted({v for v in values if v is not None})


def _workflow(name: str) -> Workflow | None:
    """The named workflow; None when it cannot be had (the one-case path then says why)."""
    try:
        return get_workflow(name)
    except LookupError:
        return None


def _load_verdicts(session: Session, data: BatchData, as_of: date) -> None:
    """The verdict of every vendor of the batch: its stored verdict when that holds on
    `as_of` (`comms.stored_verdicts`, kept equal to a fresh computation), else computed from
    the one loader of verdict inputs (`comms.verdict_inputs.load_inputs`), as
    `comms.verdicts.vendor_verdict` computes it."""
    data.verdicts.update(stored_for(session, data.vendors, as_of))
    rest = [i for i in data.vendors if i not in data.verdicts]
    for vendor_id, inputs in load_inputs(session, rest).items():
        data.verdicts[vendor_id] = inputs.verdict(as_of)


def _load_last_status(session: Session, data: BatchData, cases: list[CaseRow]) -> None:
    """The newest delivery status per channel, for the cases whose workflow has a step that
    asks for it (`last_email_bounced`, `last_sms_failed`)."""
    wanted = [
        c.id
        for c in cases
        if (wf := data.workflows.get(c.id)) is not None
        and any(cond in STATUS_CONDITIONS for step in wf.steps for cond in step.when)
    ]
    if not wanted:
        return
    dt, conn = table("delivery"), session.connection()
    for case_id, channel, status in conn.execute(
        select(dt.c.case_id, dt.c.channel, dt.c.status)
        .where(
            among(conn, dt.c.case_id, wanted),
            dt.c.channel.in_(sorted(set(STATUS_CONDITIONS.values()))),
        )
        .order_by(dt.c.id)
    ).all():
        data.last_status[(case_id, channel)] = status
