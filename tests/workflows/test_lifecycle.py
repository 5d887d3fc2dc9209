"""Outcomes, pause/resume, switching ladders, campaigns, and the embedded-default tick."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from comms.app.cli import app
from comms.channels import SendOutcome
from comms.models import Case, Delivery, Vendor
from comms.outbox import apply_outcome, claim
from comms.settings import get_settings
from tests.workflows.conftest import add_certificate, add_vendor
from workflows.calendar import add_business_days
from workflows.lifecycle import (
    CaseError,
    pause_case,
    record_outcome,
    reevaluate_vendor,
    resume_case,
)

runner = CliRunner()
MINUS_30 = "2026-12-16T14:00:00+00:00"  # 09:00 New York, 30 days before 2027-01-15


def tick(at: str) -> None:
    result = runner.invoke(app, ["tick", "--now", at])
    assert result.exit_code == 0, result.output


def deliveries(engine: Engine) -> list[Delivery]:
    with Session(engine) as s:
        return list(s.exec(select(Delivery).order_by(col(Delivery.id))).all())


def the_case(engine: Engine) -> Case:
    with Session(engine) as s:
        return s.exec(select(Case).where(Case.state != "resolved")).one()


def test_embedded_defaults_one_tick_writes_the_emails_to_the_outbox(vendor_db: Engine) -> None:
    tick(MINUS_30)
    rows = deliveries(vendor_db)
    assert [(d.step, d.recipient_kind, d.status) for d in rows] == [
        ("renewal_request", "agent", "sent"),
        ("renewal_request", "vendor", "sent"),
    ]
    files = list(get_settings().effective_outbox_dir.rglob("*.eml"))
    assert len(files) == 2
    tick(MINUS_30)
    assert len(deliveries(vendor_db)) == 2
    assert len(list(get_settings().effective_outbox_dir.rglob("*.eml"))) == 2


def test_bounce_skips_ahead_to_the_first_phone_step(vendor_db: Engine) -> None:
    tick(MINUS_30)
    now = datetime.fromisoformat(MINUS_30) + timedelta(hours=1)
    with Session(vendor_db) as s:
        row = s.exec(select(Delivery).where(Delivery.recipient_kind == "vendor")).one()
        row.status = "queued"
        s.add(row)
        s.commit()
        claimed = claim(s, row.id or 0, now=now)
        assert claimed is not None
        apply_outcome(s, claimed, SendOutcome(status="bounced", error="550 no such user"), now=now)
        s.commit()
    tick(now.isoformat())
    rows = deliveries(vendor_db)
    assert rows[-1].step == "sms_reminder" and rows[-1].channel == "sms"
    case = the_case(vendor_db)
    assert case.step_index == 3  # the call comes next, at its own time


def test_renewal_on_way_snoozes_three_business_days(vendor_db: Engine) -> None:
    tick(MINUS_30)
    now = datetime(2027, 1, 8, 15, 0, tzinfo=UTC)  # the -7 call went out; Friday
    tick("2027-01-01T14:00:00+00:00")
    tick(now.isoformat())
    with Session(vendor_db) as s:
        case = s.exec(select(Case)).one()
        assert case.step_index == 4  # the agent call task (-3, Tuesday) is next
        record_outcome(s, case.id or 0, "renewal_on_way", now=now)
        s.commit()
        s.refresh(case)
        assert case.state == "waiting"
        assert case.next_action_at is not None
        assert case.next_action_at >= add_business_days(now, 3, get_settings())  # Wednesday


def test_promised_waits_until_the_date(vendor_db: Engine) -> None:
    tick(MINUS_30)
    now = datetime.fromisoformat(MINUS_30)
    with Session(vendor_db) as s:
        case = s.exec(select(Case)).one()
        record_outcome(s, case.id or 0, "promised", now=now, data={"date": "2027-01-05"})
        s.commit()
    tick("2027-01-01T14:00:00+00:00")  # -14: the SMS would have gone out
    assert {d.step for d in deliveries(vendor_db)} == {"renewal_request"}
    tick("2027-01-06T14:00:00+00:00")
    assert deliveries(vendor_db)[-1].step == "renewal_reminder"


def test_pause_and_resume(vendor_db: Engine) -> None:
    tick(MINUS_30)
    with Session(vendor_db) as s:
        case = s.exec(select(Case)).one()
        pause_case(s, case, now=datetime.fromisoformat(MINUS_30), by="alice")
        s.commit()
        case_id = case.id
    tick("2026-12-28T14:00:00+00:00")
    assert len(deliveries(vendor_db)) == 2
    result = runner.invoke(
        app, ["cases", "resume", str(case_id), "--now", "2026-12-28T14:00:00+00:00"]
    )
    assert result.exit_code == 0, result.output
    tick("2026-12-28T14:00:00+00:00")
    assert deliveries(vendor_db)[-1].step == "renewal_reminder"
    with Session(vendor_db) as s:
        case = s.exec(select(Case)).one()
        with pytest.raises(CaseError):
            resume_case(s, case, now=datetime.now(UTC))  # not paused any more


def test_failing_certificate_switches_to_the_deficient_ladder(vendor_db: Engine) -> None:
    tick(MINUS_30)
    now = datetime(2026, 12, 18, 15, 0, tzinfo=UTC)
    with Session(vendor_db) as s:
        vendor = s.exec(select(Vendor)).one()
        add_certificate(s, vendor, expires=date(2027, 12, 1), limit=100_000, at=now)
        opened = reevaluate_vendor(s, vendor.id or 0, now=now, reason="certificate arrived")
        s.commit()
        assert [c.workflow for c in opened] == ["deficient"]
        # one conversation per vendor: the deficient trigger joined the open expiring case
        states = [(c.workflow, c.state) for c in s.exec(select(Case)).all()]
        assert states == [("deficient", "active")]
    tick(now.isoformat())
    assert deliveries(vendor_db)[-1].template == "deficiency_notice"


def test_campaign_to_non_compliant_vendors(use_db: Engine) -> None:
    with Session(use_db) as s:
        add_vendor(s, name="Good Co", expires=date(2027, 12, 1))
        add_vendor(s, name="Thin Co", expires=date(2027, 12, 1), limit=100_000)
    at = "2026-12-10T15:00:00+00:00"
    preview = runner.invoke(
        app,
        [
            "campaign",
            "start",
            "--status",
            "non_compliant",
            "--template",
            "deficiency_notice",
            "--preview",
            "--now",
            at,
        ],
    )
    assert preview.exit_code == 0, preview.output
    assert "Thin Co" in preview.output and "Good Co" not in preview.output
    assert deliveries(use_db) == []
    started = runner.invoke(
        app,
        [
            "campaign",
            "start",
            "--status",
            "non_compliant",
            "--template",
            "deficiency_notice",
            "--now",
            at,
        ],
    )
    assert started.exit_code == 0, started.output
    tick(at)
    rows = [d for d in deliveries(use_db) if d.step == "campaign"]
    assert [(d.recipient, d.template) for d in rows] == [("ops@thin.example", "deficiency_notice")]
    listed = runner.invoke(app, ["campaign", "list"])
    assert "deficiency_notice" in listed.output
    stopped = runner.invoke(app, ["campaign", "stop", "1", "--now", at])
    assert stopped.exit_code == 0, stopped.output


def test_no_answer_retries_the_call_next_business_day_up_to_the_limit(vendor_db: Engine) -> None:
    tick(MINUS_30)
    tick("2027-01-08T15:00:00+00:00")  # -21, -14 and the -7 call (Friday 10:00 New York)
    calls: list[datetime] = []
    now = datetime(2027, 1, 8, 16, 0, tzinfo=UTC)
    for _ in range(3):
        with Session(vendor_db) as s:
            case = s.exec(select(Case)).one()
            record_outcome(s, case.id or 0, "no_answer", now=now, data={"step": "reminder_call"})
            s.commit()
            due = case.next_action_at
        assert due is not None
        tick(due.isoformat())
        calls = [d.created_at for d in deliveries(vendor_db) if d.channel == "call"]
        now = due + timedelta(hours=1)
    # the first call plus two retries (limit 3), each on a later business day
    assert len(calls) == 3
    assert calls[1].date() == date(2027, 1, 11) and calls[2].date() == date(2027, 1, 12)
    keys = {d.idempotency_key for d in deliveries(vendor_db) if d.channel == "call"}
    assert len(keys) == 3
