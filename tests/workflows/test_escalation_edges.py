"""The escalation's edge cases: a case opened late starts in writing (catch-up steps)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from comms.app.cli import app
from comms.models import Case, CaseEvent, Delivery
from tests.workflows.conftest import add_vendor
from workflows.definitions import get_workflow

runner = CliRunner()


def _tick(at: str) -> None:
    result = runner.invoke(app, ["tick", "--now", at])
    assert result.exit_code == 0, result.output


def test_catch_up_steps_are_declared_in_the_workflow_data() -> None:
    steps = get_workflow("expiring").steps
    assert [s.id for s in steps if s.catch_up] == ["renewal_request", "expired_notice"]
    assert all(s.channel == "email" for s in steps if s.catch_up)


def test_a_case_opened_after_the_email_steps_starts_in_writing_at_once(use_db: Engine) -> None:
    with Session(use_db) as s:
        add_vendor(s, expires=date(2026, 9, 15))  # expired in September
    _tick("2026-11-02T14:00:00+00:00")  # a Monday, 09:00 in New York: seven weeks later
    with Session(use_db) as s:
        rows = s.exec(select(Delivery).order_by(col(Delivery.id))).all()
        assert [(d.channel, d.step, d.recipient_kind) for d in rows] == [
            ("email", "expired_notice", "vendor")
        ]
        case = s.exec(select(Case)).one()
        assert case.workflow == "expiring" and case.state == "active"
        events = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
        ).all()
        skipped = [e.step for e in events if e.kind == "step_skipped"]
        assert "expired_call_task" not in skipped and "expired_notice" not in skipped
        done = [e.step for e in events if e.kind == "step_done"]
        assert done == ["expired_notice"]
    _tick("2026-11-03T14:00:00+00:00")  # the phone step follows, a business day later
    with Session(use_db) as s:
        steps = [d.step for d in s.exec(select(Delivery).order_by(col(Delivery.id))).all()]
        assert steps == ["expired_notice", "expired_call_task"]
