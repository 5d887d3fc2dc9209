"""The inbound IVR line: caller matched by number or keypad vendor ID, status spoken, menu."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.models import Delivery
from telephony.models import CallTask, InboundMessage
from tests.support.twilio_server import TwilioTestServer
from tests.telephony.conftest import PUBLIC_URL, AppServer, Clock, make_world

CALL = "CA" + "5" * 32


def _post(
    twilio: TwilioTestServer,
    app: AppServer,
    path: str,
    caller: str = "(212) 555-0143",
    **params: str,
) -> ET.Element:
    body = {"CallSid": CALL, "From": caller, "To": "+12125550100", **params}
    response = twilio.post(PUBLIC_URL + path, app.url, body)
    assert response.status_code == 200, response.text
    return ET.fromstring(response.text)


def _spoken(root: ET.Element) -> str:
    return " ".join(s.text or "" for s in root.iter("Say"))


def test_known_caller_hears_status_and_menu(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    root = _post(twilio, app, "/twilio/voice/inbound", caller="+1 212-555-0143")
    gather = root.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert gather.get("action") == f"/twilio/voice/ivr/menu?vendor={world.vendor.id}"
    spoken = _spoken(gather)
    assert "Acme Plumbing is compliant until November 20, 2026" in spoken
    for option in ("press 1", "press 2", "press 3", "press 4"):
        assert option in spoken
    with Session(use_db) as s:
        [logged] = s.exec(select(InboundMessage)).all()
        assert logged.vendor_id == world.vendor.id and logged.from_number == "+12125550143"

    menu = f"/twilio/voice/ivr/menu?vendor={world.vendor.id}"
    # 1: resend the request to the agent
    assert "agent again" in _spoken(_post(twilio, app, menu, Digits="1"))
    # 2: text me how to send the certificate
    assert "text" in _spoken(_post(twilio, app, menu, Digits="2"))
    with Session(use_db) as s:
        rows = s.exec(select(Delivery)).all()
        email = next(r for r in rows if r.channel == "email")
        assert email.recipient == "pat@kim.test" and email.recipient_kind == "agent"
        sms = next(r for r in rows if r.channel == "sms")
        assert sms.recipient == "+12125550143" and "ACORD 25" in (sms.body_text or "")
        assert app.wait_enqueued(len(rows)) == sorted(r.id or 0 for r in rows)
    # 4: leave a voicemail → <Record>, then a call task linked to the recording
    root = _post(twilio, app, menu, Digits="4")
    record = root.find("Record")
    assert record is not None
    assert record.get("action") == f"/twilio/voice/ivr/recorded?vendor={world.vendor.id}"
    recording = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    for _ in range(2):  # Twilio may repeat the callback: one task
        root = _post(
            twilio,
            app,
            f"/twilio/voice/ivr/recorded?vendor={world.vendor.id}",
            RecordingUrl=recording,
            RecordingSid="RE" + "1" * 32,
        )
        assert "recorded" in _spoken(root) and root[-1].tag == "Hangup"
    with Session(use_db) as s:
        [task] = s.exec(select(CallTask)).all()
        assert task.recording_url == recording and task.reason == "voicemail"
        assert task.vendor_id == world.vendor.id and task.phone == "+12125550143"
        assert recording in task.script


def test_unknown_caller_keys_in_vendor_id(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        make_world(s, clock.now, expires=date(2026, 10, 15))
    root = _post(twilio, app, "/twilio/voice/inbound", caller="+13125550111")
    gather = root.find("Gather")
    assert gather is not None and gather.get("finishOnKey") == "#"
    assert gather.get("action") == "/twilio/voice/ivr/code?attempt=1"
    assert "vendor I D" in _spoken(gather)
    root = _post(
        twilio, app, "/twilio/voice/ivr/code?attempt=1", caller="+13125550111", Digits="9999"
    )
    assert "could not find" in _spoken(root)
    assert root.find("Gather").get("action") == "/twilio/voice/ivr/code?attempt=2"  # type: ignore[union-attr]
    root = _post(
        twilio, app, "/twilio/voice/ivr/code?attempt=2", caller="+13125550111", Digits="4417"
    )
    assert "expired on October 15, 2026" in _spoken(root)
    root = _post(twilio, app, "/twilio/voice/ivr/code?attempt=3", caller="+13125550111", Digits="0")
    assert root[-1].tag == "Hangup" and root.find("Gather") is None


def test_missing_requirements_spoken(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    from comms.models import Policy

    with Session(use_db) as s:
        make_world(s, clock.now)
        policy = s.exec(select(Policy)).one()
        policy.additional_insured = False
        s.add(policy)
        s.commit()
    spoken = _spoken(_post(twilio, app, "/twilio/voice/inbound"))
    assert "missing the following" in spoken and "additional insured" in spoken.lower()
