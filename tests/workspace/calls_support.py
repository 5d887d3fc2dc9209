"""Call tasks over the example roster, for the call desk's tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.models import Vendor
from telephony.tasks import NewTask, create_task
from tests.support import factory


def desk_tasks(engine: Engine, now: datetime) -> dict[str, int]:
    """Agent Dana Broker: one call about Acme Roofing and Cedar Plumbing (expired: priority
    2); vendor Delta HVAC: one call. Task ids by whom to call."""
    with Session(engine) as s:
        ids: dict[str, int] = {}
        for name, kind, trigger, minutes in (
            ("Acme Roofing LLC", "agent", "expired", 90),
            ("Cedar Plumbing", "agent", "expired", 60),
            ("Delta HVAC", "vendor", "expiring", 30),
        ):
            vendor = s.exec(select(Vendor).where(Vendor.name == name)).one()
            case = factory.case(
                s,
                vendor,
                now=now - timedelta(days=20),
                trigger=trigger,
                workflow="expiring",
                step_index=4,
            )
            s.flush()
            task = create_task(
                s,
                NewTask(
                    vendor=vendor,
                    case=case,
                    reason="agent_call_task" if kind == "agent" else "vendor_call_task",
                    due_at=now - timedelta(minutes=minutes),
                    target_kind=kind,
                    script_template="call_agent" if kind == "agent" else "call_vendor",
                    priority=2 if trigger == "expired" else 3,
                ),
                now=now,
            )
            ids[task.target_name] = task.id or 0
        s.commit()
        return ids
