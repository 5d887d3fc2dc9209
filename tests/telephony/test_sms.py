"""Outbound SMS through the real twilio client to the Twilio-shaped server; status callbacks
applied by progress; permanent errors reported to the workflow; inbound keywords."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms import dispatch
from comms.models import CaseEvent, Delivery, Vendor
from comms.outbox import NewDelivery, create_delivery
from telephony.models import SmsOptOut, WebhookEvent
from tests.support.twilio_server import TwilioTestServer
from tests.telephony.conftest import PUBLIC_URL, VENDOR_PHONE, AppServer, Clock, make_world


def _sms(engine: Engine, clock: Clock, world_case: int, vendor_id: int, key: str = "k1") -> int:
    with Session(engine) as s:
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key=key,
                channel="sms",
                recipient=VENDOR_PHONE,
                template="renewal_reminder",
                vendor_id=vendor_id,
                case_id=world_case,
                step="sms_reminder",
                body_text="Your certificate expires soon.",
            ),
            now=clock.now,
        )
        s.commit()
        assert row.id is not None
        return row.id


def _status(
    twilio: TwilioTestServer, app: AppServer, sid: str, status: str, code: str | None = None
) -> int:
    params = {
        "MessageSid": sid,
        "MessageStatus": status,
        "AccountSid": twilio.account_sid,
        "To": VENDOR_PHONE,
    }
    if code:
        params["ErrorCode"] = code
    return twilio.post(f"{PUBLIC_URL}/twilio/sms/status", app.url, params).status_code


def test_sms_sent_with_status_callback_and_statuses_by_progress(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    delivery_id = _sms(use_db, clock, world.case.id or 0, world.vendor.id or 0)
    sent = dispatch.deliver(delivery_id, now=clock.now, engine=use_db)
    assert sent is not None and sent.status == "sent"
    [request] = twilio.messages()
    assert request.auth_ok
    assert request.one("To") == VENDOR_PHONE
    assert request.one("From") == "+12125550100"
    assert request.one("Body") == "Your certificate expires soon."
    assert request.one("StatusCallback") == f"{PUBLIC_URL}/twilio/sms/status"
    sid = sent.provider_message_id or ""
    assert sid.startswith("SM") and len(sid) == 34
    # out of order: delivered, then a late "sent", then delivered again (a retry of Twilio's)
    assert _status(twilio, app, sid, "delivered") == 204
    assert _status(twilio, app, sid, "sent") == 204
    assert _status(twilio, app, sid, "delivered") == 204
    assert _status(twilio, app, sid, "failed", "30005") == 204  # never replaces a final state
    with Session(use_db) as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None and row.status == "delivered"
        events = s.exec(select(WebhookEvent).where(WebhookEvent.sid == sid)).all()
        assert sorted(e.status for e in events) == ["delivered", "failed", "sent"]


def test_permanent_error_callback_reported_as_sms_failed(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now, step_index=3)
    delivery_id = _sms(use_db, clock, world.case.id or 0, world.vendor.id or 0)
    sent = dispatch.deliver(delivery_id, now=clock.now, engine=use_db)
    assert sent is not None
    sid = sent.provider_message_id or ""
    assert _status(twilio, app, sid, "sent") == 204
    assert _status(twilio, app, sid, "undelivered", "30006") == 204
    with Session(use_db) as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None and row.status == "failed" and row.error_code == "30006"
        outcomes = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == world.case.id, CaseEvent.kind == "outcome")
        ).all()
        assert [e.reason for e in outcomes] == ["sms_failed"]


def test_api_error_21610_fails_and_mirrors_opt_out(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    twilio.fail_to(
        VENDOR_PHONE, status=400, code=21610, message="Attempt to send to unsubscribed recipient"
    )
    delivery_id = _sms(use_db, clock, world.case.id or 0, world.vendor.id or 0)
    row = dispatch.deliver(delivery_id, now=clock.now, engine=use_db)
    assert row is not None and row.status == "failed" and row.error_code == "21610"


def test_inbound_keywords(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)

    def text(body: str, sid: str) -> ET.Element:
        response = twilio.post(
            f"{PUBLIC_URL}/twilio/sms/inbound",
            app.url,
            {"MessageSid": sid, "From": "(212) 555-0143", "To": "+12125550100", "Body": body},
        )
        assert response.status_code == 200
        return ET.fromstring(response.text)

    root = text("HELP", "SM01")
    [message] = root.findall("Message")
    assert "Harbor Property Group" in (message.text or "")
    assert "coi@harbor.test" in (message.text or "")

    root = text("How do I send the certificate?", "SM02")
    [message] = root.findall("Message")
    assert "ACORD 25" in (message.text or "") and "coi@harbor.test" in (message.text or "")

    assert text("Our agent changed, it is now Lee at Brightway", "SM03").findall("Message") == []

    assert text("stop", "SM04").findall("Message") == []
    with Session(use_db) as s:
        [opt] = s.exec(select(SmsOptOut)).all()
        assert opt.phone == VENDOR_PHONE and opt.active and opt.keyword == "STOP"
        vendor = s.get(Vendor, world.vendor.id)
        assert vendor is not None and vendor.opt_out_sms
        kinds = [
            e.kind
            for e in s.exec(select(CaseEvent).where(CaseEvent.case_id == world.case.id)).all()
        ]
        assert kinds.count("sms_received") == 2 and "sms_opted_out" in kinds

    # no SMS goes to that number again
    delivery_id = _sms(use_db, clock, world.case.id or 0, world.vendor.id or 0, key="after-stop")
    row = dispatch.deliver(delivery_id, now=clock.now, engine=use_db)
    assert row is not None and row.status == "skipped"
    assert twilio.messages() == []

    [message] = text("START", "SM05").findall("Message")
    with Session(use_db) as s:
        [opt] = s.exec(select(SmsOptOut)).all()
        assert not opt.active
    delivery_id = _sms(use_db, clock, world.case.id or 0, world.vendor.id or 0, key="after-start")
    row = dispatch.deliver(delivery_id, now=clock.now, engine=use_db)
    assert row is not None and row.status == "sent"
    assert len(twilio.messages()) == 1
