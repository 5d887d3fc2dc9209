"""Dry-run timeline: run the real scheduler and engine against a throwaway copy of the data.

Nothing is sent and nothing is written to the real database: the copy is a temporary SQLite
file, ticks run with no enqueue, and the clock jumps from one due moment to the next (plus a
daily scan so new triggers open). Because the code is the engine's own, the preview agrees
with what `comms tick` does at those times, absent replies and certificates.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from comms.db import create_all, make_engine
from comms.models import Case, CaseEvent, Delivery, Vendor
from comms.outbox import normalize_address
from comms.settings import Settings
from workflows.calendar import local_moment
from workflows.scheduler import tick

SKIP_TABLES = {"audit_log"}
# Not copied for one vendor: totals of every vendor (the copy's would be wrong), and inbound
# webhook events (every vendor's; the engine never reads them).
VENDOR_SKIP_TABLES = {"verdict_count", "webhook_event"}
# Tables of addresses (whoever they belong to): for one vendor, only its and its agent's.
ADDRESS_TABLES = {"suppression": "address", "sms_opt_out": "phone"}


def _addresses(email: str | None, phone: str | None) -> set[str]:
    """The forms an email or phone takes in the suppression and opt-out tables."""
    found = set()
    if email:
        found.update({normalize_address("email", email), email})
    if phone:
        found.add(normalize_address("sms", phone))
    return found


@dataclass(frozen=True)
class PlannedSend:
    at: datetime
    vendor: str
    case: int
    workflow: str
    step: str
    channel: str
    to: str
    recipient_kind: str
    template: str
    planned_for: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "vendor": self.vendor,
            "case": self.case,
            "workflow": self.workflow,
            "step": self.step,
            "channel": self.channel,
            "to": self.to,
            "recipient_kind": self.recipient_kind,
            "template": self.template,
            "deferred_from": self.planned_for.isoformat()
            if self.planned_for and self.planned_for != self.at
            else None,
        }


def copy_database(
    source: Engine, target: Engine, metadata: MetaData, *, vendor_ids: set[int] | None = None
) -> None:
    """Copy the rows of `metadata`'s tables into `target`; with `vendor_ids`, only those
    vendors' rows, their agents', their cases' and their addresses' (no other vendor's row is
    read: each such table is filtered by vendor, agent, case or address)."""
    present = set(inspect(source).get_table_names())
    tables = metadata.tables
    with source.connect() as src, target.begin() as dst:
        agent_ids: list[int] = []
        case_ids: list[int] = []
        addresses: set[str] = set()  # the vendors' and their agents' emails and phones
        if vendor_ids is not None:
            v, a, c = tables["vendor"], tables["agent"], tables["case"]
            for agent_id, email, phone in src.execute(
                select(v.c.agent_id, v.c.email, v.c.phone).where(v.c.id.in_(vendor_ids))
            ):
                if agent_id is not None:
                    agent_ids.append(agent_id)
                addresses.update(_addresses(email, phone))
            for email, phone in src.execute(
                select(a.c.email, a.c.phone).where(a.c.id.in_(agent_ids))
            ):
                addresses.update(_addresses(email, phone))
            case_ids = list(src.scalars(select(c.c.id).where(c.c.vendor_id.in_(vendor_ids))))
        for table in metadata.sorted_tables:
            if table.name in SKIP_TABLES or table.name not in present:
                continue
            query = table.select()
            if vendor_ids is not None:
                if table.name in VENDOR_SKIP_TABLES:
                    continue
                if table.name in ADDRESS_TABLES:  # other vendors' addresses stay out
                    column = table.c[ADDRESS_TABLES[table.name]]
                    query = query.where(column.in_(sorted(addresses)))
                elif "vendor_id" in table.c:
                    query = query.where(table.c.vendor_id.in_(vendor_ids))
                elif table.name == "vendor":
                    query = query.where(table.c.id.in_(vendor_ids))
                elif table.name == "agent":
                    query = query.where(table.c.id.in_(agent_ids))
                elif "case_id" in table.c:
                    query = query.where(table.c.case_id.in_(case_ids))
            rows = [dict(r) for r in src.execute(query).mappings()]
            if rows:
                dst.execute(table.insert(), rows)


def simulate(
    source: Engine,
    *,
    start: datetime,
    days: int,
    settings: Settings,
    metadata: MetaData,
    vendor_name: str | None = None,
) -> list[PlannedSend]:
    """`metadata`: every package's tables (`comms.app.registry.metadata`), created in the
    throwaway copy and copied into it."""
    with tempfile.TemporaryDirectory(prefix="comms-sim-") as tmp:
        copy = make_engine(f"sqlite:///{Path(tmp) / 'sim.db'}")
        try:
            create_all(copy, metadata)
            vendor_ids = None
            if vendor_name:
                with Session(source) as s:
                    ids = s.exec(
                        select(Vendor.id).where(func.lower(Vendor.name) == vendor_name.lower())
                    ).all()
                if not ids:
                    raise LookupError(f"no vendor named {vendor_name!r}")
                vendor_ids = {i for i in ids if i is not None}
            copy_database(source, copy, metadata, vendor_ids=vendor_ids)
            return _run(copy, start=start, end=start + timedelta(days=days), settings=settings)
        finally:
            copy.dispose()


def _next_scan(at: datetime, settings: Settings) -> datetime:
    day: date = at.astimezone(settings.zone).date() + timedelta(days=1)
    return local_moment(day, time(0, 1), settings)


def _run(
    engine: Engine, *, start: datetime, end: datetime, settings: Settings
) -> list[PlannedSend]:
    out: list[PlannedSend] = []
    at = start
    while at <= end:
        result = tick(engine, now=at, settings=settings, enqueue=None)
        if result.deliveries:
            with Session(engine) as s:
                rows = s.exec(
                    select(Delivery, Case, Vendor)
                    .join(Case, col(Case.id) == col(Delivery.case_id))
                    .join(Vendor, col(Vendor.id) == col(Delivery.vendor_id))
                    .where(col(Delivery.id).in_(result.deliveries))
                    .order_by(col(Delivery.id))
                ).all()
                for d, case, vendor in rows:
                    ev = s.exec(
                        select(CaseEvent)
                        .where(
                            CaseEvent.case_id == case.id,
                            CaseEvent.step == d.step,
                            CaseEvent.kind == "step_done",
                        )
                        .order_by(col(CaseEvent.id).desc())
                    ).first()
                    nominal = ev.data.get("nominal") if ev is not None else None
                    out.append(_planned(d, case, vendor, at, nominal))
        with Session(engine) as s:
            nxt = s.exec(
                select(func.min(Case.next_action_at)).where(
                    col(Case.state).in_(("active", "waiting")), col(Case.next_action_at) > at
                )
            ).one()
        candidates = [_next_scan(at, settings)]
        if nxt is not None:
            candidates.append(nxt)
        at = min(candidates)
    return out


def _planned(
    d: Delivery, case: Case, vendor: Vendor, at: datetime, nominal_iso: str | None
) -> PlannedSend:
    nominal = datetime.fromisoformat(nominal_iso) if nominal_iso else None
    return PlannedSend(
        at=at,
        vendor=vendor.name,
        case=case.id or 0,
        workflow=case.workflow,
        step=d.step or "",
        channel=d.channel,
        to=d.recipient,
        recipient_kind=d.recipient_kind,
        template=d.template,
        planned_for=nominal,
    )
