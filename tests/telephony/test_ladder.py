"""A whole expiring ladder driven by the workflow scheduler, with the real twilio client and
the Twilio-shaped server: STOP is honored to the end, and calls only inside quiet hours."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms import dispatch
from comms.models import Delivery
from comms.settings import Settings
from tests.support.twilio_server import TwilioTestServer
from tests.telephony.conftest import PUBLIC_URL, VENDOR_PHONE, AppServer, Clock, make_vendor
from workflows.scheduler import tick

NEW_YORK = ZoneInfo("America/New_York")


def _run_ladder(
    engine: Engine, settings: Settings, clock: Clock, days: int, on_day: dict[int, object]
) -> None:
    start = clock.now
    for step in range(days * 4):  # every 6 hours, nights included
        clock.now = start + timedelta(hours=6 * step)
        action = on_day.pop(step // 4, None) if step % 4 == 0 else None
        if callable(action):
            action()
        ids: list[int] = []
        tick(engine, now=clock.now, settings=settings, enqueue=ids.append)
        for delivery_id in ids:
            dispatch.deliver(delivery_id, now=clock.now, engine=engine)


def test_stop_honored_across_the_ladder_and_calls_in_quiet_hours(
    use_db: Engine, settings: Settings, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        make_vendor(s, clock.now, expires=date(2026, 12, 2))

    def stop() -> None:
        response = twilio.post(
            f"{PUBLIC_URL}/twilio/sms/inbound",
            app.url,
            {
                "MessageSid": "SM" + "9" * 32,
                "From": VENDOR_PHONE,
                "To": "+12125550100",
                "Body": "Stop",
            },
        )
        assert response.status_code == 200

    _run_ladder(use_db, settings, clock, days=45, on_day={1: stop})
    with Session(use_db) as s:
        rows = s.exec(select(Delivery).order_by(col(Delivery.id))).all()
    channels = [r.channel for r in rows]
    assert "email" in channels and "call" in channels and "call_task" in channels
    # STOP: not one SMS left for the number, and any planned SMS row is skipped
    assert twilio.messages() == []
    assert all(r.status == "skipped" for r in rows if r.channel == "sms")
    # every call placed inside quiet hours (New York, 08:00–21:00)
    calls = [r for r in rows if r.channel == "call" and r.sent_at is not None]
    assert calls and len(twilio.calls()) == len(calls)
    for row in calls:
        assert row.sent_at is not None
        local = row.sent_at.astimezone(NEW_YORK)
        assert 8 <= local.hour < 21, local


def test_without_stop_the_sms_step_sends(
    use_db: Engine, settings: Settings, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        make_vendor(s, clock.now, expires=date(2026, 12, 2))
    _run_ladder(use_db, settings, clock, days=20, on_day={})
    [sms] = twilio.messages()
    assert sms.one("To") == VENDOR_PHONE and "Acme Plumbing" in (sms.one("Body") or "")
    assert "STOP" in (sms.one("Body") or "")
