"""`comms simulate --vendor` reads only that vendor: its throwaway copy holds the vendor's
rows, its agent's, its cases' and its own addresses' suppressions and opt-outs, and nothing of
any other vendor."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.app.registry import metadata
from comms.db import create_all, make_engine
from comms.models import Suppression, Vendor
from telephony.models import SmsOptOut, WebhookEvent
from tests.verdicts.conftest import load_config_profiles, noon, run_import, write_roster
from workflows.simulate import copy_database

NOW = noon(date(2026, 12, 3))


def _vendor(n: int) -> dict[str, str]:
    return {
        "vendor_name": f"Vendor {n}",
        "vendor_email": f"Ops{n}@vendor{n}.example",
        "vendor_phone": f"212-555-010{n}",
        "agent_name": f"Agent {n}",
        "agent_email": f"agent{n}@agency.example",
        "profile": "standard",
        "coverage": "General Liability",
        "policy_number": f"GL-{n}",
        "effective_date": "2026-01-01",
        "expiration_date": "2026-12-20",
        "each_occurrence": "1000000",
        "general_aggregate": "2000000",
    }


def test_the_copy_for_one_vendor_holds_nothing_of_the_others(db: Engine, tmp_path: Path) -> None:
    load_config_profiles(db)
    run_import(db, write_roster(tmp_path / "roster.csv", [_vendor(n) for n in (1, 2, 3)]), now=NOW)
    with Session(db) as s:
        vendors = {v.name: v for v in s.scalars(select(Vendor))}
        for v in vendors.values():
            assert v.email and v.phone
            s.add(Suppression(channel="email", address=v.email.lower(), reason="bounce"))
            s.add(SmsOptOut(phone=v.phone, keyword="STOP", opted_out_at=NOW))
        s.add(WebhookEvent(kind="sms", sid="SM1", status="received", payload={}, received_at=NOW))
        one_id, one_phone = vendors["Vendor 2"].id, vendors["Vendor 2"].phone
        s.commit()
    copy = make_engine(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        create_all(copy, metadata)
        copy_database(db, copy, metadata, vendor_ids={one_id or 0})
        with copy.connect() as conn:
            assert conn.execute(text("SELECT name FROM vendor")).scalars().all() == ["Vendor 2"]
            assert conn.execute(text("SELECT name FROM agent")).scalars().all() == ["Agent 2"]
            for table in metadata.sorted_tables:
                if "vendor_id" in table.c:
                    ids = set(conn.execute(select(table.c.vendor_id)).scalars())
                    assert ids <= {one_id}, table.name
            assert conn.execute(text("SELECT address FROM suppression")).scalars().all() == [
                "ops2@vendor2.example"
            ]
            assert conn.execute(text("SELECT phone FROM sms_opt_out")).scalars().all() == [
                one_phone
            ]
            assert conn.execute(text("SELECT count(*) FROM webhook_event")).scalar_one() == 0
            assert conn.execute(text("SELECT count(*) FROM policy")).scalar_one() == 1
    finally:
        copy.dispose()
