"""The escalation's edge cases: a case opened late starts in writing (catch-up steps); an
unreachable vendor is a status and a staff task, not a step done; one case per vendor."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from comms.app.cli import app
from comms.models import Case, CaseEvent, Delivery, Vendor
from telephony.models import CallTask
from tests.support import factory
from tests.workflows.conftest import LOW_RISK, add_certificate, add_vendor
from workflows.definitions import get_workflow
from workflows.lifecycle import reevaluate_vendor

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


def test_an_unreachable_vendor_is_a_status_and_a_staff_task(use_db: Engine) -> None:
    with Session(use_db) as s:
        factory.vendor(
            s, name="Ghost Builders", email=None, phone=None, profile=factory.profile(s, LOW_RISK)
        )
        s.commit()
    _tick("2026-11-02T14:00:00+00:00")
    with Session(use_db) as s:
        case = s.exec(select(Case)).one()
        assert case.workflow == "missing" and case.data["unreachable"] == "certificate_request"
        events = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
        ).all()
        kinds = [(e.kind, e.step) for e in events if e.kind != "opened"]
        assert ("unreachable", "certificate_request") in kinds
        assert ("step_done", "certificate_request") not in kinds
        assert ("task_opened", "find_contact") in kinds
        [task] = s.exec(select(CallTask)).all()
        assert task.reason == "find_contact" and task.phone is None
        assert "Find a contact for Ghost Builders" in task.script
        assert "No email address on file." in task.script
        assert "No insurance agent on file." in task.script
    _tick("2026-11-10T14:00:00+00:00")  # the next steps: still nobody; still one task
    with Session(use_db) as s:
        assert len(s.exec(select(CallTask)).all()) == 1
        done = s.exec(select(CaseEvent).where(CaseEvent.kind == "step_done")).all()
        assert done == []


def test_one_case_per_vendor_a_new_trigger_joins_the_open_case(use_db: Engine) -> None:
    with Session(use_db) as s:
        add_vendor(s)  # covered until 2027-01-15: expiring 30 days before
    _tick("2026-12-16T14:00:00+00:00")
    now = datetime(2026, 12, 18, 15, 0, tzinfo=UTC)
    with Session(use_db) as s:
        vendor = s.exec(select(Vendor)).one()
        # a certificate that is deficient (and still expiring): the stronger trigger wins
        add_certificate(s, vendor, expires=date(2027, 1, 15), limit=100_000, at=now)
        reevaluate_vendor(s, vendor.id or 0, now=now, reason="certificate arrived")
        s.commit()
        [case] = s.exec(select(Case)).all()
        assert (case.trigger, case.workflow, case.state) == ("deficient", "deficient", "active")
        joined = s.exec(select(CaseEvent).where(CaseEvent.kind == "joined")).one()
        assert joined.data["from"]["workflow"] == "expiring"
        assert "now the deficient ladder (was expiring)" in joined.reason
    _tick(now.isoformat())
    with Session(use_db) as s:
        rows = s.exec(select(Delivery).order_by(col(Delivery.id))).all()
        assert [(d.step, d.recipient_kind) for d in rows] == [
            ("renewal_request", "agent"),
            ("renewal_request", "vendor"),
            ("deficiency_notice", "agent"),
        ]
        assert {d.case_id for d in rows} == {case.id}  # one conversation
