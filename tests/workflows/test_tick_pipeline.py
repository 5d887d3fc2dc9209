"""The scheduler pipeline's interpreter settings, and the indexes its statements (and the
lookups by provider ids) rely on."""

from __future__ import annotations

import gc
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from workflows.batch_load import claim_statement
from workflows.tick_pipeline import HANDOFF_INTERVAL, gc_paused, quick_handoffs


def test_interpreter_settings_are_held_while_anyone_holds_them_and_restored() -> None:
    switch, enabled = sys.getswitchinterval(), gc.isenabled()
    with quick_handoffs(), gc_paused():
        assert sys.getswitchinterval() <= HANDOFF_INTERVAL and not gc.isenabled()
        with quick_handoffs(), gc_paused():  # a second holder (another pipeline)
            pass
        assert sys.getswitchinterval() <= HANDOFF_INTERVAL and not gc.isenabled()
    assert sys.getswitchinterval() == switch and gc.isenabled() == enabled


def _plan(engine: Engine, sql: str) -> str:
    """The plan PostgreSQL picks when an index can serve, and serve the order, at all (the
    test tables are empty: any plan would do)."""
    with engine.begin() as conn:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(text(f"SET LOCAL {setting} = off"))
        return "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {sql}")))


@pytest.mark.postgres
def test_the_claim_reads_the_due_index_in_order_and_the_failures_index(pg_db: Engine) -> None:
    query = claim_statement(now=datetime(2026, 11, 2, tzinfo=UTC), limit=1000, skip_locked=True)
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    plan = _plan(pg_db, sql)
    due = plan[plan.index("LockRows") :]
    assert "ix_case_due" in due
    assert "Sort" not in due.split("ix_case_due")[0]  # the index gives the order
    assert "ix_case_event_failures" in plan


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("where", "index"),
    [
        ("message_id IN ('<a@x>', '<b@x>') AND channel = 'email'", "ix_delivery_message_id"),
        ("provider_message_id = 'SM123'", "ix_delivery_provider_message_id"),
    ],
)
def test_lookups_by_a_provider_id_use_its_partial_index(
    pg_db: Engine, where: str, index: str
) -> None:
    assert index in _plan(pg_db, f"SELECT id FROM delivery WHERE {where}")
