"""The `expiring` ladder end to end: simulate, then tick at the planned times with a real SMTP
server; the preview agrees with what the ticks do; a certificate mid-ladder stops everything."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from comms.app.cli import app
from comms.models import Case, CaseEvent, Delivery, Vendor
from tests.support.smtp_server import SmtpTestServer
from tests.workflows.conftest import EXPIRES, add_certificate, add_vendor
from workflows.lifecycle import reevaluate_vendor

runner = CliRunner()

EXPECTED_STEPS = [
    ("renewal_request", "email", "agent"),
    ("renewal_request", "email", "vendor"),
    ("renewal_reminder", "email", "agent"),
    ("renewal_reminder", "email", "vendor"),
    ("sms_reminder", "sms", "vendor"),
    ("reminder_call", "call", "vendor"),
    ("agent_call_task", "call_task", "agent"),
    ("expired_notice", "email", "vendor"),
    ("expired_call_task", "call_task", "vendor"),
]


def _simulate(start: str, days: int) -> list[dict[str, str]]:
    result = runner.invoke(app, ["simulate", "--from", start, "--days", str(days), "--json"])
    assert result.exit_code == 0, result.output
    data: list[dict[str, str]] = json.loads(result.output)
    return data


def _tick(at: str) -> str:
    result = runner.invoke(app, ["tick", "--now", at])
    assert result.exit_code == 0, result.output
    return result.output


def test_whole_ladder_preview_agrees_with_ticks(vendor_db: Engine, smtp: SmtpTestServer) -> None:
    plan = _simulate("2026-12-01", 60)
    assert [(p["step"], p["channel"], p["recipient_kind"]) for p in plan] == EXPECTED_STEPS
    # offsets: -30 … +7 days from the expiration, each moved into its channel's window
    first = datetime.fromisoformat(plan[0]["at"])
    assert first.astimezone(UTC) == datetime(2026, 12, 16, 14, 0, tzinfo=UTC)  # 09:00 EST
    with Session(vendor_db) as s:
        assert s.exec(select(Delivery)).all() == []  # the preview wrote nothing
        assert s.exec(select(Case)).all() == []

    _tick("2026-12-01T05:00:00+00:00")
    for at in sorted({p["at"] for p in plan}):
        _tick(at)
        before = len(smtp.messages)
        assert "queued 0 deliveries" in _tick(at)  # a second tick at the same time: nothing new
        assert len(smtp.messages) == before

    with Session(vendor_db) as s:
        rows = s.exec(select(Delivery).order_by(col(Delivery.id))).all()
        actual = [
            {
                "at": d.created_at.isoformat(),
                "case": d.case_id,
                "step": d.step,
                "channel": d.channel,
                "to": d.recipient,
                "template": d.template,
            }
            for d in rows
        ]
        assert all(d.status == "sent" for d in rows), [(d.step, d.status, d.error) for d in rows]
        sms = next(d for d in rows if d.channel == "sms")
        assert sms.body_text and "Acme Roofing" in sms.body_text  # templates/sms/renewal_reminder
        assert next(d for d in rows if d.channel == "call").content["planned"]["step"] == (
            "reminder_call"
        )
        case = s.exec(select(Case)).one()
        assert case.workflow == "expiring"
    expected = [
        {
            "at": datetime.fromisoformat(p["at"]).astimezone(UTC).isoformat(),
            "case": p["case"],
            "step": p["step"],
            "channel": p["channel"],
            "to": p["to"],
            "template": p["template"],
        }
        for p in plan
    ]
    assert actual == expected
    # every email reached the SMTP server, once
    assert len(smtp.messages) == 5
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == sorted(
        p["to"] for p in plan if p["channel"] == "email"
    )


def test_certificate_mid_ladder_stops_everything(vendor_db: Engine, smtp: SmtpTestServer) -> None:
    plan = _simulate("2026-12-01", 60)
    ats = sorted({p["at"] for p in plan})
    _tick("2026-12-01T05:00:00+00:00")
    for at in ats[:3]:  # -30, -21, -14 (SMS)
        _tick(at)
    sent_before = len(smtp.messages)
    with Session(vendor_db) as s:
        vendor = s.exec(select(Vendor)).one()
        now = datetime.fromisoformat(ats[2]).astimezone(UTC)
        add_certificate(s, vendor, expires=EXPIRES.replace(year=2028), limit=1_000_000, at=now)
        open_cases = reevaluate_vendor(s, vendor.id or 0, now=now, reason="certificate arrived")
        s.commit()
        assert open_cases == []
    for at in ats[3:]:
        assert "queued 0 deliveries" in _tick(at)
    assert len(smtp.messages) == sent_before == 4
    with Session(vendor_db) as s:
        case = s.exec(select(Case)).one()
        assert case.state == "resolved"
        kinds = [e.kind for e in s.exec(select(CaseEvent).order_by(col(CaseEvent.id))).all()]
        assert kinds[-1] == "resolved"
        assert {d.step for d in s.exec(select(Delivery)).all()} == {
            "renewal_request",
            "renewal_reminder",
            "sms_reminder",
        }


def test_certificate_seen_at_step_time_without_reevaluation(
    vendor_db: Engine, smtp: SmtpTestServer
) -> None:
    """Even if nobody calls reevaluate_vendor, the verdict is rechecked before each step."""
    plan = _simulate("2026-12-01", 60)
    ats = sorted({p["at"] for p in plan})
    _tick(ats[0])
    with Session(vendor_db) as s:
        vendor = s.exec(select(Vendor)).one()
        add_certificate(
            s,
            vendor,
            expires=EXPIRES.replace(year=2028),
            limit=1_000_000,
            at=datetime.fromisoformat(ats[0]),
        )
        s.commit()
    for at in ats[1:]:
        _tick(at)
    assert len(smtp.messages) == 2


def test_preview_shows_quiet_hour_deferrals_and_ticks_agree(
    use_db: Engine, smtp: SmtpTestServer
) -> None:
    with Session(use_db) as s:
        add_vendor(s, name="Island Pools", phone="+18085550100")  # Honolulu, 5 h behind NY
    plan = _simulate("2026-12-01", 60)
    sms = next(p for p in plan if p["channel"] == "sms")
    call = next(p for p in plan if p["channel"] == "call")
    for item in (sms, call):  # 09:00 New York is 04:00 in Honolulu: deferred to 08:00 HST
        at = datetime.fromisoformat(item["at"])
        assert at.astimezone(UTC).hour == 18
        assert item["deferred_from"] is not None
        assert datetime.fromisoformat(item["deferred_from"]).astimezone(UTC).hour == 14
    _tick("2026-12-01T05:00:00+00:00")
    for when in sorted({p["at"] for p in plan}):
        _tick(when)
    with Session(use_db) as s:
        rows = s.exec(select(Delivery).order_by(col(Delivery.id))).all()
    assert [(d.created_at, d.step, d.recipient) for d in rows] == [
        (datetime.fromisoformat(p["at"]).astimezone(UTC), p["step"], p["to"]) for p in plan
    ]
