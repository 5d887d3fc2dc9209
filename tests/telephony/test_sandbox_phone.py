"""The sandbox phone against the app's real webhooks: IVR calls, reminder calls answered by a
person or a machine, texts; every TwiML document validated against telephony/twiml.xsd."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms import dispatch
from comms.app.cli import app as cli
from comms.models import Case, Delivery
from comms.outbox import NewDelivery, create_delivery
from comms.settings import reset_settings_cache
from telephony import sandbox_phone
from telephony.interpreter import Interpreter, http_poster
from telephony.models import InboundMessage, SmsOptOut
from tests.support.twilio_server import TwilioTestServer
from tests.support.twiml_schema import validate
from tests.telephony.conftest import PUBLIC_URL, VENDOR_PHONE, AppServer, Clock, make_world

runner = CliRunner()


@pytest.fixture
def phone(twilio: TwilioTestServer, app: AppServer) -> Iterator[Interpreter]:
    """An interpreter signing with the configured Twilio token, on the real app server."""
    with httpx.Client(base_url=app.url, timeout=10) as client:
        yield Interpreter(
            http_poster(client),
            public_url=PUBLIC_URL,
            auth_token=twilio.auth_token,
            validate=validate,
        )


def test_ivr_call_as_a_known_vendor_repeat_then_resend_to_agent(
    use_db: Engine, phone: Interpreter, clock: Clock
) -> None:
    with Session(use_db) as s:
        world = make_world(s, clock.now)
    t = phone.call(from_number="+1 212-555-0143", to_number="+12125550100", presses=["9", "1"])
    assert t.failures == [], t.text()
    said = t.said()
    assert any("Acme Plumbing is compliant until November 20, 2026" in x for x in said)
    assert [line.text for line in t.lines if line.kind == "press"] == ["9", "1"]
    assert sum("Acme Plumbing is compliant" in x for x in said) == 2  # 9 repeated it
    assert "agent again" in t.spoken() and t.lines[-1].kind == "hangup"
    with Session(use_db) as s:
        email = s.exec(select(Delivery).where(Delivery.channel == "email")).one()
        assert email.recipient_kind == "agent" and email.vendor_id == world.vendor.id


def test_ivr_unknown_caller_keys_in_the_vendor_id_and_leaves_a_voicemail(
    use_db: Engine, phone: Interpreter, clock: Clock
) -> None:
    from telephony.models import CallTask

    with Session(use_db) as s:
        world = make_world(s, clock.now)
    t = phone.call(
        from_number="+13125550111", to_number="+12125550100", presses=["4417#", "4", "#"]
    )
    assert t.failures == [], t.text()
    assert "vendor I D" in t.spoken() and "Acme Plumbing" in t.spoken()
    assert [line.kind for line in t.lines].count("record") == 1
    with Session(use_db) as s:
        [task] = s.exec(select(CallTask)).all()
        assert task.vendor_id == world.vendor.id and task.reason == "voicemail"
        assert (task.recording_url or "").startswith(PUBLIC_URL + "/sandbox/recordings/RE")


def test_webhook_failure_is_heard_as_fallback_and_recorded(
    use_db: Engine, phone: Interpreter, clock: Clock
) -> None:
    """A choice for a vendor ID that is not a number: the app answers 422, the caller hears
    Twilio's fallback."""
    t = phone.call(
        from_number="+13125550111", to_number="+1", url="/twilio/voice/ivr/menu?vendor=x"
    )
    assert t.said() == [sandbox_phone_fallback()] and "HTTP 422" in t.failures[0]


def sandbox_phone_fallback() -> str:
    from telephony.interpreter import FALLBACK

    return FALLBACK


# --- without Twilio: the sandbox, through `comms phone` -----------------------------------------


@pytest.fixture
def sandbox(use_db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("COMMS_PUBLIC_URL", "https://coi.example.test")
    monkeypatch.setenv("COMMS_SECRET_KEY", "test-signing-key-0123456789")
    reset_settings_cache()
    yield use_db
    dispatch.shutdown()


def _reminder_call(
    engine: Engine, now: datetime, case_id: int | None, vendor_id: int | None
) -> int:
    with Session(engine) as s:
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key="call-1",
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
    return row.id


def test_cli_call_prints_the_transcript(sandbox: Engine, now: datetime) -> None:
    with Session(sandbox) as s:
        make_world(s, now)
    result = runner.invoke(
        cli, ["phone", "call", "--from", "(212) 555-0143", "--press", "1", "--now", now.isoformat()]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("call CA") and "from +12125550143 to +15005550006" in out
    assert "says: " in out and "Acme Plumbing is compliant until November 20, 2026" in out
    assert "caller presses: 1" in out and "agent again" in out
    assert out.rstrip().splitlines()[-1].startswith("call completed")
    bad = runner.invoke(cli, ["phone", "call", "--from", "not a number"])
    assert bad.exit_code == 2 and "not a phone number" in bad.output


def test_cli_answers_a_reminder_call_as_a_person_and_as_a_machine(
    sandbox: Engine, now: datetime
) -> None:
    with Session(sandbox) as s:
        world = make_world(s, now)
    delivery_id = _reminder_call(sandbox, now, world.case.id, world.vendor.id)
    result = runner.invoke(
        cli, ["phone", "answer", "--number", VENDOR_PHONE, "--press", "1", "--now", now.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "Acme Plumbing" in result.output and "caller presses: 1" in result.output
    with Session(sandbox) as s:
        case = s.get(Case, world.case.id)
        assert case is not None and case.last_outcome == "renewal_on_way"
        row = s.get(Delivery, delivery_id)
        assert row is not None and row.content["call_status"] == "completed"
        assert row.status == "delivered"
    again = runner.invoke(cli, ["phone", "answer", "--number", VENDOR_PHONE])
    assert again.exit_code == 2 and "no call is ringing" in again.output

    with Session(sandbox) as s:
        s.delete(s.get(Delivery, delivery_id))
        s.commit()
    second = _reminder_call(sandbox, now, world.case.id, world.vendor.id)
    result = runner.invoke(
        cli, ["phone", "answer", "--number", VENDOR_PHONE, "--machine", "--now", now.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "caller presses" not in result.output
    with Session(sandbox) as s:
        row = s.get(Delivery, second)
        assert row is not None and row.content["answered_by"] == "machine_end_beep"


def test_cli_text_stop_and_the_inbox(sandbox: Engine, now: datetime) -> None:
    with Session(sandbox) as s:
        world = make_world(s, now)
    _reminder_call(sandbox, now, world.case.id, world.vendor.id)
    result = runner.invoke(
        cli, ["phone", "text", "--from", VENDOR_PHONE, "--body", "STOP", "--now", now.isoformat()]
    )
    assert result.exit_code == 0, result.output
    with Session(sandbox) as s:
        opt = s.exec(select(SmsOptOut)).one()
        assert opt.phone == VENDOR_PHONE and opt.active
        assert s.exec(select(InboundMessage)).one().body == "STOP"
    inbox = runner.invoke(cli, ["phone", "inbox", "--number", VENDOR_PHONE])
    assert inbox.exit_code == 0, inbox.output
    lines = inbox.output.splitlines()
    assert any("text sent" in line and "STOP" in line for line in lines)
    assert any(" call " in line for line in lines)
    assert sandbox_phone.SANDBOX_LINE == "+15005550006"


@pytest.mark.parametrize(
    "document",
    [
        "<Response><Play>https://coi.example.test/a.mp3</Play></Response>",  # not emitted
        '<Response><Say voice="Polly.Joanna" language="en-US"></Say></Response>',  # empty
        "<Response><Hangup/><Say voice='Polly.Joanna' language='en-US'>x</Say></Response>",
        '<Response><Redirect method="POST">https://elsewhere.test/</Redirect></Response>',
        "<Response><Dial>555-0199</Dial></Response>",  # not E.164
        "<Response><Message>hi</Message><Hangup/></Response>",
    ],
)
def test_the_schema_refuses_twiml_outside_the_subset(document: str) -> None:
    with pytest.raises(ValueError, match="TwiML schema"):
        validate(document)
