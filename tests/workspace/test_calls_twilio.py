"""The desk's "call" button with Twilio configured (the Twilio-shaped test server): the
caller's own phone (COMMS_CALLER_PHONES, or a number entered) is called and bridged to the
callee with <Dial>; the call's status callbacks and the <Dial>'s outcome land on the task,
and its screen shows them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.app.web import create_app
from comms.settings import get_settings, reset_settings_cache
from telephony.models import CallTask
from tests.support.twilio_server import TwilioTestServer
from tests.support.twiml_schema import validate
from tests.workspace.calls_support import desk_tasks
from tests.workspace.conftest import NOW, PAGE, Clock, sign_in

PUBLIC_URL = "https://coi.example.test"
FROM_NUMBER = "+12125550100"


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[TwilioTestServer]:
    with TwilioTestServer() as server:
        env = {
            "COMMS_TWILIO_ACCOUNT_SID": server.account_sid,
            "COMMS_TWILIO_AUTH_TOKEN": server.auth_token,
            "COMMS_TWILIO_FROM_NUMBER": FROM_NUMBER,
            "COMMS_TWILIO_API_URL": server.url,
            "COMMS_PUBLIC_URL": PUBLIC_URL,
            "COMMS_CALLER_PHONES": json.dumps({"carl": "(646) 555-0111"}),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        reset_settings_cache()
        yield server
    reset_settings_cache()


def _callback(
    client: TestClient, twilio: TwilioTestServer, path: str, params: dict[str, str]
) -> str:
    """POST as Twilio does: signed against the public URL; a TwiML answer is validated."""
    signature = twilio.sign(PUBLIC_URL + path, params)
    answer = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code in (200, 204), answer.text
    if answer.status_code == 200:
        validate(answer.text)
    return answer.text


def _call(roster: Engine, task_id: int) -> dict[str, str]:
    with Session(roster) as s:
        task = s.get(CallTask, task_id)
        assert task is not None
        return dict(task.outcome_data.get("call") or {})


def test_the_call_button_bridges_the_callers_phone_and_records_the_call_status(
    roster: Engine, clock: Clock, twilio: TwilioTestServer
) -> None:
    ids = desk_tasks(roster, NOW)
    task_id = ids["Delta HVAC"]
    app = create_app(get_settings(), engine=roster, clock=clock, enqueue=lambda *_: None)
    with TestClient(app, base_url="https://coi.example.test") as carl:
        csrf = sign_in(carl, "carl")
        carl.post(f"/calls/{task_id}/claim", data={"csrf": csrf})
        screen = carl.post(f"/calls/{task_id}/call", data={"csrf": csrf}, headers=PAGE)
        assert screen.status_code == 200, screen.text
        # Twilio was asked to ring carl's own phone, then <Dial> the callee
        [placed] = twilio.calls()
        assert placed.auth_ok and placed.one("To") == "+16465550111"
        assert placed.one("From") == FROM_NUMBER
        assert placed.one("StatusCallback") == PUBLIC_URL + "/twilio/voice/status"
        assert placed.params["StatusCallbackEvent"] == [
            "initiated",
            "ringing",
            "answered",
            "completed",
        ]
        twiml = placed.one("Twiml") or ""
        validate(twiml)
        dial = re.search(r"<Dial ([^>]*)>([^<]+)</Dial>", twiml)
        assert dial is not None and dial.group(2) == "+19175550177"
        assert f'action="{PUBLIC_URL}/twilio/voice/desk/{task_id}/dial"' in dial.group(1)
        assert f'callerId="{FROM_NUMBER}"' in dial.group(1)
        call = _call(roster, task_id)
        sid = call["sid"]
        assert sid.startswith("CA") and call["mode"] == "twilio" and call["status"] == "queued"
        assert "your phone +16465550111, then +19175550177" in screen.text

        def status(value: str) -> None:
            params = {"CallSid": sid, "CallStatus": value, "AccountSid": twilio.account_sid}
            _callback(carl, twilio, "/twilio/voice/status", params)

        status("ringing")
        assert _call(roster, task_id)["status"] == "ringing"
        status("in-progress")
        status("ringing")  # late, out of order: the status does not go back
        assert _call(roster, task_id)["status"] == "in-progress"
        page = carl.get(f"/calls/{task_id}", headers=PAGE).text
        assert '<span id="call-status">in-progress</span>' in page
        # the callee did not pick up: the <Dial> ends busy, and the caller's phone hangs up
        dialed = {
            "CallSid": sid,
            "DialCallSid": "CA" + "7" * 32,
            "DialCallStatus": "busy",
            "DialCallDuration": "0",
            "AccountSid": twilio.account_sid,
        }
        answer = _callback(carl, twilio, f"/twilio/voice/desk/{task_id}/dial", dialed)
        assert "<Hangup" in answer
        status("completed")
        call = _call(roster, task_id)
        assert (call["status"], call["callee_status"]) == ("completed", "busy")
        page = carl.get(f"/calls/{task_id}", headers=PAGE).text
        assert '<span id="call-status">completed</span>' in page
        assert '<span id="callee-status">busy</span>' in page
        # the wrap-up is still required, and saving it keeps the call's record
        saved = carl.post(
            f"/calls/{task_id}/complete",
            data={"csrf": csrf, "outcome": "busy"},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        assert _call(roster, task_id)["callee_status"] == "busy"


def test_a_caller_with_no_phone_enters_one(
    roster: Engine, clock: Clock, twilio: TwilioTestServer
) -> None:
    ids = desk_tasks(roster, NOW)
    task_id = ids["Dana Broker"]
    app = create_app(get_settings(), engine=roster, clock=clock, enqueue=lambda *_: None)
    with TestClient(app, base_url="https://coi.example.test") as ada:
        csrf = sign_in(ada, "ada")  # an admin, with no COMMS_CALLER_PHONES entry
        ada.post(f"/calls/{task_id}/claim", data={"csrf": csrf})
        refused = ada.post(f"/calls/{task_id}/call", data={"csrf": csrf}, headers=PAGE)
        assert refused.status_code == 422 and "no phone for ada" in refused.text
        assert twilio.calls() == []
        entered = ada.post(
            f"/calls/{task_id}/call",
            data={"csrf": csrf, "own_phone": "(917) 555-0123"},
            headers=PAGE,
        )
        assert entered.status_code == 200, entered.text
        [placed] = twilio.calls()
        assert placed.one("To") == "+19175550123"
        assert "your phone +19175550123, then" in entered.text
