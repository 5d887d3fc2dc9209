"""Without Twilio credentials: the sandbox records SMS and calls; quarantined callbacks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms import dispatch
from comms.outbox import NewDelivery, create_delivery
from telephony import events
from telephony.models import SmsOptOut, WebhookEvent
from tests.telephony.conftest import VENDOR_PHONE, make_world


def _delivery(engine: Engine, now: datetime, channel: str, key: str, vendor_id: int) -> int:
    with Session(engine) as s:
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key=key,
                channel=channel,
                recipient=VENDOR_PHONE,
                template="renewal_reminder",
                vendor_id=vendor_id,
                body_text="Reminder" if channel == "sms" else None,
            ),
            now=now,
        )
        s.commit()
        assert row.id is not None
        return row.id


def test_sandbox_records_sms_and_calls(use_db: Engine, now: datetime) -> None:
    with Session(use_db) as s:
        world = make_world(s, now)
    vendor_id = world.vendor.id or 0
    sms = dispatch.deliver(_delivery(use_db, now, "sms", "s1", vendor_id), now=now, engine=use_db)
    call = dispatch.deliver(_delivery(use_db, now, "call", "c1", vendor_id), now=now, engine=use_db)
    assert sms is not None and sms.status == "sent" and sms.body_text == "Reminder"
    assert (sms.provider_message_id or "").startswith("SM")
    assert call is not None and call.status == "sent"
    assert (call.provider_message_id or "").startswith("CA")
    with Session(use_db) as s:
        s.add(SmsOptOut(phone=VENDOR_PHONE, keyword="STOP", opted_out_at=now))
        s.commit()
    skipped = dispatch.deliver(
        _delivery(use_db, now, "sms", "s2", vendor_id), now=now, engine=use_db
    )
    assert skipped is not None and skipped.status == "skipped"


def test_failed_callback_is_quarantined_and_rerun(use_db: Engine, now: datetime) -> None:
    def broken(_s: Session, _p: dict[str, str], _at: datetime) -> None:
        raise RuntimeError("database hiccup")

    seen: list[str] = []

    def fixed(_s: Session, p: dict[str, str], _at: datetime) -> None:
        seen.append(p["MessageSid"])

    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    done = events.process_once(use_db, "sms_status", "SM1", "delivered", params, broken, now=now)
    assert done.outcome is events.Outcome.QUARANTINED
    with Session(use_db) as s:
        [row] = s.exec(select(WebhookEvent)).all()
        assert row.processed_at is None and "database hiccup" in (row.error or "")
        assert row.payload == params
    assert events.reprocess(use_db, {"sms_status": fixed}, now=now).processed == 1
    assert seen == ["SM1"]
    # processed now, and a repeat of the callback is not processed again
    again = events.process_once(use_db, "sms_status", "SM1", "delivered", params, fixed, now=now)
    assert again.outcome is events.Outcome.DUPLICATE
    assert seen == ["SM1"]
