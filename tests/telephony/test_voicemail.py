"""A voicemail and "press 3" are stored before they are applied: a failure (a bad setting, a
broken dependency) is answered politely and quarantined, and `comms webhooks-rerun` makes the
call-back task; a vendor deleted meanwhile loses nothing. COMMS_CALL_CENTER_HOURS that
telephony cannot read is an error naming it, at start-up of the web app."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms.app.cli import app as cli
from comms.app.web import create_app
from comms.settings import Settings, SettingsError, reset_settings_cache
from telephony.hours import HoursError, parse_hours
from telephony.models import CallTask, InboundMessage, WebhookEvent
from tests.support.twilio_server import TwilioTestServer
from tests.telephony.conftest import PUBLIC_URL, VENDOR_PHONE, AppServer, Clock, make_world

runner = CliRunner()
CALL = "CA" + "6" * 32
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE6"
# accepted by the settings (comms/settings.py) but not a local time range
OFFSET_HOURS = "09:00+01:00-17:00+01:00"


def _post(twilio: TwilioTestServer, app: AppServer, path: str, **params: str) -> ET.Element:
    body = {"CallSid": CALL, "From": "(212) 555-0143", "To": "+12125550100", **params}
    response = twilio.post(PUBLIC_URL + path, app.url, body)
    assert response.status_code == 200, response.text
    return ET.fromstring(response.text)


def _spoken(root: ET.Element) -> str:
    return " ".join(s.text or "" for s in root.iter("Say"))


def _tasks(engine: Engine) -> list[CallTask]:
    with Session(engine) as s:
        return list(s.exec(select(CallTask)).all())


def _rerun(*options: str) -> None:
    result = runner.invoke(cli, ["webhooks-rerun", *options, "--now", "2026-11-02T15:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "1 callback(s) processed" in result.output


def _boom(*_args: object, **_kw: object) -> None:
    raise RuntimeError("task store down")


def test_failed_voicemail_is_kept_and_rerun(
    use_db: Engine,
    twilio: TwilioTestServer,
    app: AppServer,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    path = f"/twilio/voice/ivr/recorded?vendor={world.vendor.id}"
    with monkeypatch.context() as patch:
        patch.setattr("telephony.ivr_menu.actions.person_task", _boom)
        root = _post(twilio, app, path, RecordingUrl=RECORDING, RecordingSid="RE" + "6" * 32)
    assert "recorded" in _spoken(root) and root[-1].tag == "Hangup"
    with Session(use_db) as s:
        [event] = s.exec(select(WebhookEvent)).all()
    assert event.kind == "voicemail" and event.processed_at is None
    assert event.payload["RecordingUrl"] == RECORDING and "task store down" in (event.error or "")
    assert _tasks(use_db) == []

    _rerun()
    [task] = _tasks(use_db)
    assert task.recording_url == RECORDING and task.reason == "voicemail"
    assert task.vendor_id == world.vendor.id and task.phone == VENDOR_PHONE
    # Twilio repeats the callback: already stored, no second task
    _post(twilio, app, path, RecordingUrl=RECORDING, RecordingSid="RE" + "6" * 32)
    assert len(_tasks(use_db)) == 1


def test_voicemail_for_a_deleted_vendor_keeps_the_recording(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        make_world(s, clock.now)
    root = _post(twilio, app, "/twilio/voice/ivr/recorded?vendor=9999", RecordingUrl=RECORDING)
    assert "recorded" in _spoken(root)
    [task] = _tasks(use_db)
    assert task.recording_url == RECORDING and task.vendor_id is None
    assert task.phone == VENDOR_PHONE
    with Session(use_db) as s:
        [logged] = s.exec(select(InboundMessage)).all()
        [event] = s.exec(select(WebhookEvent)).all()
    assert logged.kind == "voicemail" and logged.vendor_id is None
    assert event.processed_at is not None and event.payload["_vendor"] == "9999"


def test_press_3_with_unreadable_hours_is_quarantined_and_rerun(
    use_db: Engine,
    twilio: TwilioTestServer,
    app: AppServer,
    clock: Clock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    menu = f"/twilio/voice/ivr/menu?vendor={world.vendor.id}"
    with monkeypatch.context() as patch:  # the value goes bad after start-up
        patch.setattr(settings, "call_center_hours", OFFSET_HOURS)
        root = _post(twilio, app, menu, Digits="3")
    assert root.find("Dial") is None and "call you back" in _spoken(root)
    with Session(use_db) as s:
        [event] = s.exec(select(WebhookEvent)).all()
    assert event.kind == "ivr_menu" and event.processed_at is None
    assert "COMMS_CALL_CENTER_HOURS" in (event.error or "")
    assert (event.error_code, event.error_permanent) == ("call_center_hours", True)
    assert _tasks(use_db) == []

    # a permanent failure is named, not re-run, until asked (the setting is fixed now)
    held = runner.invoke(cli, ["webhooks-rerun", "--now", "2026-11-02T15:00:00Z"])
    assert held.exit_code == 0, held.output
    assert "0 callback(s) processed" in held.output
    assert f"callback {event.id} (ivr_menu) not re-run: permanent (call_center_hours)" in (
        held.stderr
    )
    assert _tasks(use_db) == []
    _rerun("--force")
    [task] = _tasks(use_db)
    assert task.reason == "ivr_person" and task.vendor_id == world.vendor.id
    assert task.phone == VENDOR_PHONE


def test_press_3_dials_when_open(
    use_db: Engine, twilio: TwilioTestServer, app: AppServer, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)  # Monday 09:00 in New York: open
    root = _post(twilio, app, f"/twilio/voice/ivr/menu?vendor={world.vendor.id}", Digits="3")
    assert root.find("Dial") is not None
    assert _tasks(use_db) == []
    with Session(use_db) as s:
        assert s.exec(select(WebhookEvent)).all() == []  # nothing to apply, nothing stored


@pytest.mark.parametrize(
    "value",
    ["9-5", "17:00-09:00", "", "09:00-17:00Z", "09:00-17:00-18:00", OFFSET_HOURS, "9am-5pm"],
)
def test_unreadable_hours_name_the_setting(value: str) -> None:
    with pytest.raises(HoursError, match="COMMS_CALL_CENTER_HOURS"):
        parse_hours(value)


def test_hours_parsed() -> None:
    start, end = parse_hours("08:30-18:00")
    assert (start.hour, start.minute, end.hour) == (8, 30, 18)


def test_web_app_refuses_to_start_with_unreadable_hours(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = settings.model_copy(update={"call_center_hours": OFFSET_HOURS})  # not validated
    with pytest.raises(SettingsError, match="COMMS_CALL_CENTER_HOURS"):
        create_app(bad)
    monkeypatch.setenv("COMMS_CALL_CENTER_HOURS", OFFSET_HOURS)
    reset_settings_cache()
    # `comms web`: one line naming the setting, and the server is never started
    import uvicorn

    from comms.app import cli as main

    def never(*_args: object, **_kw: object) -> None:
        raise AssertionError("the web app started")

    monkeypatch.setattr(uvicorn, "run", never)
    monkeypatch.setattr(sys, "argv", ["comms", "web"])
    with pytest.raises(SystemExit) as stopped:
        main.main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "COMMS_CALL_CENTER_HOURS:" in err and "Traceback" not in err
