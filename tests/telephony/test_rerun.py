"""`comms webhooks-rerun` runs every kind of stored callback again: an inbound STOP and an
AMD result whose processing failed are applied by the re-run; a kind it cannot handle is
reported (exit status 1), not skipped silently."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms import dispatch
from comms.app.cli import app as cli
from comms.models import CaseEvent, Delivery, Vendor
from comms.outbox import NewDelivery, create_delivery
from telephony import events
from telephony.models import InboundMessage, SmsOptOut, WebhookEvent
from tests.support.twilio_server import TwilioTestServer
from tests.telephony.conftest import PUBLIC_URL, VENDOR_PHONE, AppServer, Clock, make_world

runner = CliRunner()


def _fail(*_args: object, **_kw: object) -> None:
    raise RuntimeError("handler down")


def _quarantined(engine: Engine, kind: str) -> WebhookEvent:
    with Session(engine) as s:
        [row] = s.exec(select(WebhookEvent).where(WebhookEvent.kind == kind)).all()
    assert row.processed_at is None and "handler down" in (row.error or "")
    return row


def test_failed_stop_is_quarantined_then_applied_by_rerun(
    use_db: Engine,
    twilio: TwilioTestServer,
    app: AppServer,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    stop = {"MessageSid": "SM" + "4" * 32, "From": "(212) 555-0143", "Body": "STOP"}
    with monkeypatch.context() as patch:
        patch.setattr("telephony.callbacks.handle_text", _fail)
        response = twilio.post(f"{PUBLIC_URL}/twilio/sms/inbound", app.url, stop)
    assert response.status_code == 200  # Twilio is answered; the text is kept
    row = _quarantined(use_db, "sms_inbound")
    assert row.payload["Body"] == "STOP"
    with Session(use_db) as s:
        assert s.exec(select(SmsOptOut)).all() == []

    result = runner.invoke(cli, ["webhooks-rerun", "--now", "2026-11-02T15:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "1 callback(s) processed" in result.output
    with Session(use_db) as s:
        [opt] = s.exec(select(SmsOptOut)).all()
        assert opt.phone == VENDOR_PHONE and opt.active and opt.keyword == "STOP"
        vendor = s.get(Vendor, world.vendor.id)
        assert vendor is not None and vendor.opt_out_sms
        [logged] = s.exec(select(InboundMessage)).all()
        assert logged.action and logged.payload["Body"] == "STOP"
        assert "_" not in "".join(k[0] for k in logged.payload)  # Twilio's parameters only
    # done: a second re-run has nothing to do
    again = runner.invoke(cli, ["webhooks-rerun"])
    assert again.exit_code == 0 and "0 callback(s) processed" in again.output


def _call(engine: Engine, now: datetime, case_id: int, vendor_id: int) -> Delivery:
    with Session(engine) as s:
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key="call-amd",
                channel="call",
                recipient=VENDOR_PHONE,
                template="renewal_reminder",
                vendor_id=vendor_id,
                case_id=case_id,
                step="reminder_call",
            ),
            now=now,
        )
        s.commit()
        assert row.id is not None
    sent = dispatch.deliver(row.id, now=now, engine=engine)
    assert sent is not None and sent.status == "sent"
    return sent


def test_failed_amd_result_is_applied_by_rerun(
    use_db: Engine,
    twilio: TwilioTestServer,
    app: AppServer,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    sent = _call(use_db, clock.now, world.case.id or 0, world.vendor.id or 0)
    amd = {"CallSid": sent.provider_message_id or "", "AnsweredBy": "machine_end_beep"}
    with monkeypatch.context() as patch:
        patch.setattr("telephony.reminder_call.machine_answered", _fail)
        response = twilio.post(f"{PUBLIC_URL}/twilio/voice/reminder/{sent.id}/amd", app.url, amd)
    assert response.status_code == 204
    row = _quarantined(use_db, "amd")
    assert row.payload["_delivery_id"] == str(sent.id)  # the route is kept for the re-run

    result = runner.invoke(cli, ["webhooks-rerun", "--now", "2026-11-02T15:00:00Z"])
    assert result.exit_code == 0, result.output
    with Session(use_db) as s:
        delivery = s.get(Delivery, sent.id)
        assert delivery is not None and delivery.content["answered_by"] == "machine_end_beep"
        outcomes = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == world.case.id, CaseEvent.kind == "outcome")
        ).all()
        assert [e.reason for e in outcomes] == ["voicemail_left"]


def test_rerun_reports_what_it_cannot_handle(
    use_db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    events.store(use_db, "fax_status", "FX1", "received", {"FaxSid": "FX1"}, now=now)
    events.store(use_db, "sms_status", "SM1", "failed", {"MessageSid": "SM1"}, now=now)

    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("still broken for +12125550143")

    monkeypatch.setattr("telephony.callbacks.apply_sms_status", broken)
    result = runner.invoke(cli, ["webhooks-rerun"])
    assert result.exit_code == 1
    assert "1 callback(s) of kind 'fax_status' not re-run: no handler" in result.output
    assert "(sms_status) still failing: RuntimeError: still broken for ***43" in result.output
    assert "2125550143" not in result.output
    with Session(use_db) as s:
        assert all(r.processed_at is None for r in s.exec(select(WebhookEvent)).all())
