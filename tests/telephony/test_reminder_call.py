"""Reminder calls: placed through the real client with AMD and callbacks, TwiML menu parsed as
XML, outcomes fed to the workflow, no call outside quiet hours."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms import dispatch
from comms.models import Case, CaseEvent, Delivery
from comms.outbox import NewDelivery, create_delivery
from telephony.models import CallTask
from tests.support.twilio_server import TwilioTestServer
from tests.telephony.conftest import (
    CALL_CENTER,
    PUBLIC_URL,
    VENDOR_PHONE,
    AppServer,
    Clock,
    World,
    make_world,
)


def _call(engine: Engine, clock: Clock, world: World) -> Delivery:
    with Session(engine) as s:
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key=f"call-{clock.now.isoformat()}",
                channel="call",
                recipient=VENDOR_PHONE,
                template="renewal_reminder",
                vendor_id=world.vendor.id,
                case_id=world.case.id,
                step="reminder_call",
            ),
            now=clock.now,
        )
        s.commit()
        assert row.id is not None
    sent = dispatch.deliver(row.id, now=clock.now, engine=engine)
    assert sent is not None
    return sent


def _post(twilio: TwilioTestServer, app: AppServer, path: str, **params: str) -> ET.Element:
    base = {"CallSid": "CA" + "7" * 32, "From": "+12125550100", "To": VENDOR_PHONE}
    response = twilio.post(PUBLIC_URL + path, app.url, {**base, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ET.fromstring(response.text)


def _path(url: str) -> str:
    assert url.startswith("/twilio/voice/"), url
    return url


def _events(engine: Engine, case_id: int | None, kind: str) -> list[CaseEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
            ).all()
        )


def test_call_placed_with_twiml_url_callbacks_and_async_amd(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    sent = _call(use_db, clock, world)
    assert sent.status == "sent" and (sent.provider_message_id or "").startswith("CA")
    [req] = twilio.calls()
    assert req.one("To") == VENDOR_PHONE and req.one("From") == "+12125550100"
    assert req.one("Url") == f"{PUBLIC_URL}/twilio/voice/reminder/{sent.id}"
    assert req.one("StatusCallback") == f"{PUBLIC_URL}/twilio/voice/status"
    assert req.params["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert req.one("MachineDetection") == "DetectMessageEnd"
    assert req.one("AsyncAmd") == "true"
    assert req.one("AsyncAmdStatusCallback") == f"{PUBLIC_URL}/twilio/voice/reminder/{sent.id}/amd"

    root = _post(twilio, app, f"/twilio/voice/reminder/{sent.id}")
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("numDigits") == "1" and gather.get("input") == "dtmf"
    assert _path(gather.get("action") or "") == f"/twilio/voice/reminder/{sent.id}/menu?attempt=0"
    spoken = " ".join(say.text or "" for say in gather.iter("Say"))
    assert "Acme Plumbing" in spoken and "November 20, 2026" in spoken
    assert "press 1" in spoken and "press 9" in spoken
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text == (
        f"/twilio/voice/reminder/{sent.id}/noinput?attempt=1"
    )

    # no input: two re-prompts, then a polite goodbye
    for attempt in (1, 2):
        root = _post(twilio, app, f"/twilio/voice/reminder/{sent.id}/noinput?attempt={attempt}")
        assert root.find("Gather") is not None
        assert "did not get your choice" in (root.find("Say").text or "")  # type: ignore[union-attr]
        assert (root.find("Redirect").text or "").endswith(f"attempt={attempt + 1}")  # type: ignore[union-attr]
    root = _post(twilio, app, f"/twilio/voice/reminder/{sent.id}/noinput?attempt=3")
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "Goodbye" in (root.find("Say").text or "")  # type: ignore[union-attr]

    # 9 repeats the reminder
    root = _post(twilio, app, f"/twilio/voice/reminder/{sent.id}/menu", Digits="9")
    assert "Acme Plumbing" in " ".join(s.text or "" for s in root.iter("Say"))

    # 1: renewal on its way → the case is snoozed
    root = _post(twilio, app, f"/twilio/voice/reminder/{sent.id}/menu", Digits="1")
    assert root[-1].tag == "Hangup"
    with Session(use_db) as s:
        case = s.get(Case, world.case.id)
        assert case is not None and case.last_outcome == "renewal_on_way"
        assert case.snoozed_until is not None and case.snoozed_until > clock.now


def test_menu_two_and_three(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    sent = _call(use_db, clock, world)
    root = _post(twilio, app, f"/twilio/voice/reminder/{sent.id}/menu", Digits="2")
    assert "text and email" in " ".join(s.text or "" for s in root.iter("Say"))
    with Session(use_db) as s:
        rows = s.exec(select(Delivery).where(Delivery.channel != "call")).all()
        assert sorted((r.channel, r.recipient) for r in rows) == [
            ("email", "dana@acme.test"),
            ("sms", VENDOR_PHONE),
        ]
        sms = next(r for r in rows if r.channel == "sms")
        assert "General liability" in (sms.body_text or "") and "$1,000,000" in (
            sms.body_text or ""
        )
        assert app.wait_enqueued(len(rows)) == sorted(r.id or 0 for r in rows)

    # 3 while the call center is open (Monday 09:00 New York): dial it
    root = _post(twilio, app, f"/twilio/voice/reminder/{sent.id}/menu", Digits="3")
    dial = root.find("Dial")
    assert dial is not None and (dial.text or "").strip() == CALL_CENTER

    # 3 after hours: a call-back task
    clock.now = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)  # 18:00 in New York
    root = _post(twilio, app, f"/twilio/voice/reminder/{sent.id}/menu", Digits="3")
    assert root.find("Dial") is None and root[-1].tag == "Hangup"
    with Session(use_db) as s:
        [task] = s.exec(select(CallTask)).all()
        assert task.phone == VENDOR_PHONE and task.reason == "reminder_call_person"
        assert task.due_at is not None and task.due_at > clock.now
        assert "Acme Plumbing" in task.script


def test_answering_machine_gets_voicemail(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    sent = _call(use_db, clock, world)
    sid = sent.provider_message_id or ""
    params = {"CallSid": sid, "AnsweredBy": "machine_end_beep", "AccountSid": twilio.account_sid}
    url = f"{PUBLIC_URL}/twilio/voice/reminder/{sent.id}/amd"
    assert twilio.post(url, app.url, params).status_code == 204
    assert twilio.post(url, app.url, params).status_code == 204  # repeated: processed once
    [update] = twilio.call_updates()
    assert update.path.endswith(f"/Calls/{sid}.json")
    voicemail = ET.fromstring(update.one("Twiml") or "")
    assert [c.tag for c in voicemail] == ["Say", "Hangup"]
    assert "coi@harbor.test" in (voicemail.find("Say").text or "")  # type: ignore[union-attr]
    assert [e.reason for e in _events(use_db, world.case.id, "outcome")] == ["voicemail_left"]


def test_busy_retries_next_business_day_inside_quiet_hours(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    sent = _call(use_db, clock, world)
    url = f"{PUBLIC_URL}/twilio/voice/status"
    for status in ("initiated", "ringing", "busy", "busy"):
        params = {"CallSid": sent.provider_message_id or "", "CallStatus": status}
        assert twilio.post(url, app.url, params).status_code == 204
    [planned] = _events(use_db, world.case.id, "retry_planned")
    assert planned.reason.startswith("busy")
    with Session(use_db) as s:
        case = s.get(Case, world.case.id)
        row = s.get(Delivery, sent.id)
        assert row is not None and row.status == "failed" and row.error_code == "busy"
        assert case is not None and case.next_action_at is not None
        local = case.next_action_at.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
        assert local.date().isoformat() == "2026-11-03" and 8 <= local.hour < 21


def test_no_call_outside_quiet_hours(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    clock.now = datetime(2026, 11, 3, 2, 30, tzinfo=UTC)  # 21:30 in New York
    sent = _call(use_db, clock, world)
    assert sent.status == "queued" and sent.error_code == "quiet_hours"
    assert twilio.calls() == []
