"""The TwiML interpreter, verb by verb, against a scripted webhook app: what the caller hears,
what it posts (signed as Twilio signs), fallbacks on failures, the redirect-loop limit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI, Request, Response
from starlette.testclient import TestClient

from telephony.interpreter import (
    FALLBACK,
    Interpreter,
    InterpreterError,
    UnsupportedVerb,
    http_poster,
)
from telephony.signatures import Verifier

PUBLIC = "https://coi.example.test"
TOKEN = "interp-token-0123456789"


class Scripted:
    """A webhook app answering each path with a fixed body; it checks every signature and
    keeps what it was sent."""

    def __init__(self, pages: dict[str, str | Callable[[dict[str, str]], str] | int]) -> None:
        self.pages = pages
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.app = FastAPI()
        verifier = Verifier(TOKEN, PUBLIC)

        @self.app.post("/{path:path}")
        async def any_path(request: Request) -> Response:
            params = await verifier.form(request)  # 403 unless signed right
            key = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            self.seen.append((key, params))
            page = self.pages.get(key, 404)
            if isinstance(page, int):
                return Response(status_code=page)
            body = page(params) if callable(page) else page
            return Response(body, media_type="application/xml")

    def interpreter(self, **kw: object) -> Interpreter:
        client = TestClient(self.app, base_url="http://app.local")
        return Interpreter(http_poster(client), public_url=PUBLIC, auth_token=TOKEN, **kw)  # type: ignore[arg-type]


def doc(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def test_say_play_pause_and_end_of_document() -> None:
    app = Scripted(
        {
            "/twilio/voice/inbound": doc(
                '<Say voice="Polly.Joanna" language="en-US">Hello there.</Say>'
                "<Play>https://coi.example.test/hold.mp3</Play>"
                '<Pause length="3"/>'
            )
        }
    )
    t = app.interpreter().call(from_number="+12125550147", to_number="+15005550006")
    assert [(line.kind, line.text) for line in t.lines] == [
        ("say", "Hello there."),
        ("play", "https://coi.example.test/hold.mp3"),
        ("pause", "3 s"),
    ]
    assert t.status == "completed" and t.failures == []
    path, params = app.seen[0]
    assert path == "/twilio/voice/inbound"
    assert params["From"] == "+12125550147" and params["To"] == "+15005550006"
    assert params["CallStatus"] == "in-progress" and params["CallSid"].startswith("CA")
    assert params["Direction"] == "inbound"


def test_gather_num_digits_finish_on_key_timeout_and_action() -> None:
    gather = (
        '<Gather input="dtmf" action="/twilio/voice/menu?x=1" method="POST" numDigits="1"'
        ' timeout="6"><Say>Press 1.</Say></Gather><Say>Bye.</Say><Hangup/>'
    )
    code = (
        '<Gather input="dtmf" action="/twilio/voice/code" method="POST" finishOnKey="#"'
        ' timeout="10"><Say>Your ID, then pound.</Say></Gather>'
    )
    app = Scripted(
        {
            "/twilio/voice/inbound": doc(gather),
            "/twilio/voice/menu?x=1": doc(code),
            "/twilio/voice/code": lambda p: doc(f"<Say>Got {p['Digits']}.</Say><Hangup/>"),
        }
    )
    # "12": numDigits=1 takes "1"; "4417#9": finishOnKey cuts at "#"
    t = app.interpreter().call(from_number="+1", to_number="+2", presses=["12", "4417#9"])
    assert app.seen[1][1]["Digits"] == "1"
    assert app.seen[2][1]["Digits"] == "4417" and app.seen[2][1]["FinishedOnKey"] == "#"
    assert t.said()[-1] == "Got 4417." and t.lines[-1].kind == "hangup"
    # no keys: the Gather times out and the document goes on
    t = app.interpreter().call(from_number="+1", to_number="+2")
    assert [line.kind for line in t.lines] == ["say", "gather", "timeout", "say", "hangup"]
    assert t.lines[2].text == "6 s"


def test_gather_action_on_empty_result_posts_empty_digits() -> None:
    app = Scripted(
        {
            "/twilio/voice/inbound": doc(
                '<Gather action="/twilio/voice/next" actionOnEmptyResult="true" timeout="2">'
                "<Say>Anything?</Say></Gather>"
            ),
            "/twilio/voice/next": doc("<Say>Nothing then.</Say>"),
        }
    )
    t = app.interpreter().call(from_number="+1", to_number="+2")
    assert app.seen[-1] == ("/twilio/voice/next", app.seen[-1][1])
    assert app.seen[-1][1]["Digits"] == "" and t.said()[-1] == "Nothing then."


def test_record_posts_the_recording_and_redirect_follows() -> None:
    app = Scripted(
        {
            "/twilio/voice/inbound": doc(
                '<Record action="/twilio/voice/recorded?vendor=3" method="POST" maxLength="120"'
                ' playBeep="true" finishOnKey="#"/>'
            ),
            "/twilio/voice/recorded?vendor=3": doc(
                '<Redirect method="POST">/twilio/voice/after</Redirect>'
            ),
            "/twilio/voice/after": doc("<Say>Thanks.</Say><Hangup/>"),
        }
    )
    t = app.interpreter().call(from_number="+1", to_number="+2", presses=["#"])
    params = app.seen[1][1]
    assert params["RecordingUrl"].startswith(PUBLIC + "/sandbox/recordings/RE")
    assert params["RecordingSid"].startswith("RE") and params["Digits"] == "#"
    assert [line.kind for line in t.lines] == ["record", "press", "redirect", "say", "hangup"]
    assert "after a beep" in t.lines[0].text


def test_dial_with_and_without_action_and_a_busy_callee() -> None:
    app = Scripted(
        {
            "/twilio/voice/inbound": doc(
                '<Say>Connecting.</Say><Dial callerId="+12125550100">+12125550199</Dial>'
                "<Say>After the call.</Say>"
            ),
            "/twilio/voice/bridge": doc(
                '<Dial action="/twilio/voice/dialed"><Number>+12125550198</Number></Dial>'
            ),
            "/twilio/voice/dialed": lambda p: doc(f"<Say>{p['DialCallStatus']}</Say>"),
        }
    )
    t = app.interpreter().call(from_number="+1", to_number="+2")
    dial = next(line for line in t.lines if line.kind == "dial")
    assert dial.text == "+12125550199 (caller ID +12125550100)"
    assert t.said() == ["Connecting.", "After the call."]
    busy = app.interpreter(dial=lambda number: "busy")
    t = busy.call(from_number="+1", to_number="+2", url="/twilio/voice/bridge")
    assert t.said() == ["busy"] and app.seen[-1][1]["DialCallStatus"] == "busy"


def test_hangup_and_reject_end_the_call_with_status_callbacks() -> None:
    app = Scripted(
        {
            "/twilio/voice/inbound": doc("<Hangup/><Say>never heard</Say>"),
            "/twilio/voice/reject": doc('<Reject reason="busy"/>'),
            "/twilio/voice/status": 204,
        }
    )
    t = app.interpreter().call(
        from_number="+1",
        to_number="+2",
        status_callback="/twilio/voice/status",
        status_events=("initiated", "ringing", "answered", "completed"),
    )
    assert t.said() == [] and t.status == "completed"
    statuses = [p["CallStatus"] for path, p in app.seen if path == "/twilio/voice/status"]
    assert statuses == ["queued", "ringing", "in-progress", "completed"]
    assert "CallDuration" in app.seen[-1][1]
    t = app.interpreter().call(
        from_number="+1",
        to_number="+2",
        url="/twilio/voice/reject",
        status_callback="/twilio/voice/status",
    )
    assert t.status == "busy" and app.seen[-1][1]["CallStatus"] == "busy"


def test_amd_callback_and_a_machine_presses_nothing() -> None:
    app = Scripted(
        {
            "/twilio/voice/out": doc(
                '<Gather action="/twilio/voice/menu" numDigits="1"><Say>Press 1.</Say></Gather>'
                "<Say>Goodbye.</Say>"
            ),
            "/twilio/voice/out/amd": 204,
        }
    )
    t = app.interpreter().call(
        from_number="+1",
        to_number="+2",
        url="/twilio/voice/out",
        presses=["1"],
        answered_by="machine_end_beep",
        amd_callback="/twilio/voice/out/amd",
    )
    amd = [p for path, p in app.seen if path == "/twilio/voice/out/amd"]
    assert amd and amd[0]["AnsweredBy"] == "machine_end_beep"
    assert "press" not in [line.kind for line in t.lines] and t.said()[-1] == "Goodbye."


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        (500, "HTTP 500"),
        ("<Response><Say>unclosed</Response>", "not valid TwiML"),
        ("<html>oops</html>", "root <html>"),
    ],
)
def test_a_failing_webhook_is_heard_as_the_fallback_and_recorded(
    page: str | int, reason: str
) -> None:
    app = Scripted(
        {
            "/twilio/voice/inbound": doc(
                '<Gather action="/twilio/voice/menu" numDigits="1"><Say>Press 1.</Say></Gather>'
            ),
            "/twilio/voice/menu": page,
        }
    )
    t = app.interpreter().call(from_number="+1", to_number="+2", presses=["1"])
    assert t.said()[-1] == FALLBACK
    assert len(t.failures) == 1 and reason in t.failures[0]
    assert t.lines[-1].kind == "hangup"


def test_a_document_refused_by_the_validator_is_a_failure() -> None:
    def strict(body: str) -> None:
        if "<Play>" in body:
            raise ValueError("Play is not in the schema")

    app = Scripted({"/twilio/voice/inbound": doc("<Play>x.mp3</Play>")})
    t = app.interpreter(validate=strict).call(from_number="+1", to_number="+2")
    assert t.said() == [FALLBACK] and "Play is not in the schema" in t.failures[0]


def test_a_redirect_loop_is_cut_after_the_limit() -> None:
    app = Scripted(
        {"/twilio/voice/loop": doc('<Redirect method="POST">/twilio/voice/loop</Redirect>')}
    )
    t = app.interpreter(max_redirects=5).call(
        from_number="+1", to_number="+2", url="/twilio/voice/loop"
    )
    assert len(app.seen) == 6  # the first fetch and five redirects
    assert t.failures == ["more than 5 redirects in a row"] and t.said() == [FALLBACK]


def test_unsupported_verbs_are_named() -> None:
    app = Scripted(
        {
            "/twilio/voice/inbound": doc("<Enqueue>support</Enqueue>"),
            "/twilio/voice/nested": doc("<Gather><Record/></Gather>"),
            "/twilio/voice/get": doc('<Redirect method="GET">/twilio/voice/inbound</Redirect>'),
            "/twilio/voice/away": doc("<Redirect>https://elsewhere.test/x</Redirect>"),
        }
    )
    with pytest.raises(UnsupportedVerb, match="<Enqueue>"):
        app.interpreter().call(from_number="+1", to_number="+2")
    with pytest.raises(UnsupportedVerb, match="<Record> inside <Gather>"):
        app.interpreter().call(from_number="+1", to_number="+2", url="/twilio/voice/nested")
    with pytest.raises(InterpreterError, match="POST only"):
        app.interpreter().call(from_number="+1", to_number="+2", url="/twilio/voice/get")
    with pytest.raises(InterpreterError, match="elsewhere"):
        app.interpreter().call(from_number="+1", to_number="+2", url="/twilio/voice/away")


def test_requests_are_signed_with_the_public_url() -> None:
    """A wrong token is refused by the app's own verifier (403): the fallback is heard."""
    app = Scripted({"/twilio/voice/inbound": doc("<Say>Hi.</Say>")})
    client = TestClient(app.app, base_url="http://app.local")
    wrong = Interpreter(http_poster(client), public_url=PUBLIC, auth_token="another-token-xyz")
    t = wrong.call(from_number="+1", to_number="+2")
    assert t.failures == ["/twilio/voice/inbound: HTTP 403"]


def test_a_live_call_waits_for_keys_and_goes_on() -> None:
    app = Scripted(
        {
            "/twilio/voice/inbound": doc(
                '<Gather action="/twilio/voice/menu" numDigits="1"><Say>Press 1.</Say></Gather>'
                "<Say>Goodbye.</Say><Hangup/>"
            ),
            "/twilio/voice/menu": lambda p: doc(
                f"<Say>You pressed {p['Digits']}.</Say>"
                '<Gather action="/twilio/voice/menu" numDigits="1"><Say>Again?</Say></Gather>'
                "<Say>Bye now.</Say>"
            ),
            "/twilio/voice/status": 204,
        }
    )
    live = app.interpreter().start(
        from_number="+1", to_number="+2", wait_for_keys=True, status_callback="/twilio/voice/status"
    )
    assert live.waiting and live.transcript.said() == ["Press 1."]
    live.press("1")
    assert live.waiting and live.transcript.said()[-2:] == ["You pressed 1.", "Again?"]
    live.press(None)  # nothing pressed: the prompt times out and the document goes on
    assert not live.waiting and live.transcript.said()[-1] == "Bye now."
    assert app.seen[-1][0] == "/twilio/voice/status"
    live = app.interpreter().start(from_number="+1", to_number="+2", wait_for_keys=True)
    live.hangup()
    assert live.ended and live.transcript.lines[-1].text == "the caller hung up"
