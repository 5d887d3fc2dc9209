"""The tick's case opener (`workflows.case_opener`, plain rows and one insert a batch) opens
exactly the cases, first steps, due times and events that the per-vendor reference path
(`workflows.lifecycle.sync_vendor` → `open_case`, ORM objects) opens for the same verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.db import session_scope
from comms.models import Case, CaseEvent, Vendor
from comms.settings import get_settings
from comms.stored_verdicts import roll, stored_for
from tests.workflows.conftest import add_vendor
from workflows import case_opener
from workflows.calendar import org_date
from workflows.lifecycle import sync_vendor

NOW = datetime(2026, 12, 16, 14, 0, tzinfo=UTC)  # 09:00 in New York


def roster(session: Session) -> None:
    day = NOW.date()
    add_vendor(session, name="Missing Co", expires=None)
    add_vendor(session, name="Lapsed Co", expires=day - timedelta(days=40))  # skipped steps
    add_vendor(
        session,
        name="Lapsed West Co",
        expires=day - timedelta(days=3),
        timezone=None,
        phone="+14155550100",
    )  # a phone in another zone
    add_vendor(session, name="Low Co", limit=1000)  # below the limit: deficient
    add_vendor(session, name="Soon Co", expires=day + timedelta(days=12))
    add_vendor(session, name="Late Co", expires=day + timedelta(days=1))
    add_vendor(session, name="Fine Co", expires=day + timedelta(days=200))  # nothing
    add_vendor(session, name="No Phone Co", expires=None, phone=None)


def opened(engine: Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every case and event, named by vendor, in id order."""
    with Session(engine) as s:
        names = {v.id: v.name for v in s.exec(select(Vendor)).all()}
        cases = s.exec(select(Case).order_by(col(Case.id))).all()
        vendor_of = {c.id: names[c.vendor_id] for c in cases}
        events = s.exec(select(CaseEvent).order_by(col(CaseEvent.id))).all()
        return (
            [
                {
                    "vendor": names[c.vendor_id],
                    **c.model_dump(exclude={"id", "vendor_id"}),
                }
                for c in cases
            ],
            [
                {"vendor": vendor_of[e.case_id], **e.model_dump(exclude={"id", "case_id"})}
                for e in events
            ],
        )


def test_bulk_opener_writes_what_the_per_vendor_path_writes(use_db: Engine) -> None:
    settings = get_settings()
    with Session(use_db) as s:
        roster(s)
    with session_scope(use_db) as s:
        n = case_opener.open_scan(s, now=NOW, settings=settings)
    bulk = opened(use_db)
    assert n == len(bulk[0]) == 7  # every vendor but Fine Co
    assert {e["kind"] for e in bulk[1]} == {"opened", "step_skipped"}

    with session_scope(use_db) as s:
        s.execute(delete(CaseEvent))
        s.execute(delete(Case))
    with session_scope(use_db) as s:
        day = org_date(NOW, settings)
        roll(s, day=day, now=NOW)
        vendors = s.exec(select(Vendor).order_by(col(Vendor.id))).all()
        verdicts = stored_for(s, [v.id or 0 for v in vendors], day)
        for vendor in vendors:
            sync_vendor(
                s,
                vendor,
                verdicts[vendor.id or 0],
                now=NOW,
                reason="scheduler scan",
                settings=settings,
            )
    assert opened(use_db) == bulk


def test_bulk_opener_keeps_open_cases_and_earlier_keys(use_db: Engine) -> None:
    """A second scan the same day opens nothing: the open cases fit their verdicts."""
    settings = get_settings()
    with Session(use_db) as s:
        roster(s)
    with session_scope(use_db) as s:
        first = case_opener.open_scan(s, now=NOW, settings=settings)
    before = opened(use_db)
    with session_scope(use_db) as s:
        again = case_opener.open_scan(s, now=NOW + timedelta(hours=1), settings=settings)
    assert (first, again) == (7, 0)
    assert opened(use_db) == before
