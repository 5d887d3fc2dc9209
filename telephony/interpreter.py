"""A TwiML interpreter: Twilio's side of a voice call, played against the app's own webhooks.

It fetches the call's first document as Twilio would (a POST signed with the auth token and
`COMMS_PUBLIC_URL`, with `CallSid`, `From`, `To`, `CallStatus`, `Direction`, …), executes its
verbs in order (`<Say>`, `<Play>`, `<Pause>`, `<Gather>`, `<Record>`, `<Redirect>`, `<Hangup>`,
`<Reject>`, `<Dial>`), posts each `action` with the keys the caller presses, and at the end
sends the status callbacks asked for. What it hears and does is a `Transcript`.

Twilio's behaviour it keeps: a webhook that fails (HTTP error, a body that is not TwiML) is
heard as Twilio's application-error message and the call ends, the failure recorded; a
`<Gather>` without input falls through to the next verb (unless `actionOnEmptyResult`); a
document that runs out of verbs ends the call. A chain of `<Redirect>`s without input between
them is cut after `max_redirects`. A verb it does not know is an `UnsupportedVerb` naming it.

`post` carries one request to the app (`http_poster`: any httpx client, including an
in-process one); `validate`, when given, checks each TwiML document (the tests check them
against `telephony/twiml.xsd`) and a document it refuses is a failure like invalid XML.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from comms.errors import PermanentError
from telephony.signatures import Verifier

FALLBACK = "We are sorry, an application error has occurred. Goodbye."
INBOUND_PATH = "/twilio/voice/inbound"
STATUS_PATH = "/twilio/voice/status"
ACCOUNT_SID = "AC" + "5a" * 16  # the sandbox's account
VERBS = ("Say", "Play", "Pause", "Gather", "Record", "Redirect", "Hangup", "Reject", "Dial")
WORDS_PER_SECOND = 2.5


class InterpreterError(PermanentError):
    code = "twiml_interpreter"


class UnsupportedVerb(InterpreterError):
    """A TwiML verb (or a verb nested where the interpreter does not run it) it cannot play."""

    code = "twiml_unsupported_verb"


class Poster(Protocol):
    def __call__(self, path: str, params: dict[str, str], headers: dict[str, str]) -> Reply: ...


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str = ""


def http_poster(client: httpx.Client) -> Poster:
    """POSTs to `client`'s base URL (a real server, or an app in-process)."""

    def post(path: str, params: dict[str, str], headers: dict[str, str]) -> Reply:
        response = client.post(path, data=params, headers=headers)
        return Reply(response.status_code, response.text, response.headers.get("content-type", ""))

    return post


@dataclass(frozen=True)
class Line:
    """One thing that happened on the call. `kind`: say, play, pause, gather, press, timeout,
    record, dial, redirect, hangup, reject, error, status."""

    kind: str
    text: str = ""
    attrs: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        labels = {
            "say": "says",
            "play": "plays",
            "pause": "pause",
            "gather": "waits for keys",
            "press": "caller presses",
            "timeout": "no keys pressed",
            "record": "records",
            "dial": "dials",
            "redirect": "redirect to",
            "hangup": "hangs up",
            "reject": "rejects the call",
            "error": "error",
            "status": "status",
        }
        label = labels.get(self.kind, self.kind)
        return f"{label}: {self.text}" if self.text else label


@dataclass(frozen=True)
class Request:
    path: str
    params: dict[str, str]
    status: int


@dataclass
class Transcript:
    call_sid: str
    from_number: str
    to_number: str
    lines: list[Line] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    status: str = "completed"
    seconds: float = 0.0

    def said(self) -> list[str]:
        return [line.text for line in self.lines if line.kind == "say"]

    def spoken(self) -> str:
        return " ".join(self.said())

    def text(self) -> str:
        head = f"call {self.call_sid} from {self.from_number} to {self.to_number}"
        body = [f"  {line}" for line in self.lines]
        tail = f"call {self.status}, {round(self.seconds)} s"
        if self.failures:
            tail += "; failures: " + "; ".join(self.failures)
        return "\n".join([head, *body, tail])


@dataclass
class _Next:
    """The document to fetch next: `url` with these extra parameters."""

    url: str
    params: dict[str, str]
    redirect: bool = False


END = _Next("", {})  # a verb that ends the call (<Hangup>, <Reject>)
PAUSE = _Next("", {})  # a <Gather> waits for keys not pressed yet


@dataclass
class _Paused:
    gather: ET.Element
    rest: list[ET.Element]
    current: str


class Keypad:
    """The keys the caller presses, one entry per prompt. `wait`: when none is left, a
    `<Gather>` waits (a live call) instead of timing out."""

    def __init__(self, presses: list[str], *, wait: bool = False) -> None:
        self.queue = list(presses)
        self.wait = wait

    def __iter__(self) -> Keypad:
        return self

    def __next__(self) -> str:
        if not self.queue:
            raise StopIteration
        return self.queue.pop(0)

    def waiting(self) -> bool:
        return self.wait and not self.queue


class LiveCall:
    """A call in progress: `press` keys (or `silence`) when it waits; `hangup` ends it."""

    def __init__(
        self,
        interpreter: Interpreter,
        transcript: Transcript,
        keys: Keypad,
        call: dict[str, str],
        status_callback: str | None,
        events: set[str],
    ) -> None:
        self.interpreter = interpreter
        self.transcript = transcript
        self.keys = keys
        self.call = call
        self.status_callback = status_callback
        self.events = events
        self.amd: tuple[str, dict[str, str]] | None = None
        self.paused: _Paused | None = None
        self.ended = False
        self.redirects = 0
        self.documents = 0

    @property
    def waiting(self) -> bool:
        return self.paused is not None and not self.ended

    def advance(self, step: _Next | _Paused | None) -> None:
        it, t = self.interpreter, self.transcript
        while isinstance(step, _Next) and step is not END:
            if step.redirect:
                self.redirects += 1
                if self.redirects > it.max_redirects:
                    it._fail(t, f"more than {it.max_redirects} redirects in a row")
                    step = None
                    break
            else:
                self.redirects = 0
            self.documents += 1
            if self.documents > it.max_documents:
                it._fail(t, f"more than {it.max_documents} documents in one call")
                step = None
                break
            root, current = it._fetch(t, step, self.call)
            if self.amd is not None:
                it._send(t, *self.amd)
                self.amd = None
            if root is None:
                step = None
                break
            step = it._run(t, list(root), current, self.keys)
        if isinstance(step, _Paused):
            self.paused = step
            return
        self.paused = None
        self._finish()

    def press(self, keys: str | None) -> None:
        """The caller's keys at the waiting prompt (None or empty: nothing, it times out)."""
        if self.paused is None or self.ended:
            return
        paused, self.paused = self.paused, None
        self.keys.queue.append(keys or "")
        it = self.interpreter
        following = it._gather_keys(self.transcript, paused.gather, paused.current, self.keys)
        if following is None:
            self.advance(it._run(self.transcript, paused.rest, paused.current, self.keys))
        else:
            self.advance(following)

    def hangup(self) -> None:
        if self.ended:
            return
        self.paused = None
        self.transcript.lines.append(Line("hangup", "the caller hung up"))
        self._finish()

    def _finish(self) -> None:
        if self.ended:
            return
        self.ended = True
        t = self.transcript
        if self.status_callback and "completed" in self.events:
            params = {**self.call, "CallStatus": t.status, "CallDuration": str(round(t.seconds))}
            self.interpreter._send(t, self.status_callback, params)


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() == "true"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class Interpreter:
    def __init__(
        self,
        post: Poster,
        *,
        public_url: str,
        auth_token: str,
        validate: Callable[[str], None] | None = None,
        max_redirects: int = 10,
        max_documents: int = 100,
        account_sid: str = ACCOUNT_SID,
        dial: Callable[[str], str] | None = None,
    ) -> None:
        """`dial`: how a `<Dial>`ed number answers (a DialCallStatus; default: completed)."""
        self.post = post
        self.public_url = public_url.rstrip("/")
        self.verifier = Verifier(auth_token, self.public_url)
        self.validate = validate
        self.max_redirects = max_redirects
        self.max_documents = max_documents
        self.account_sid = account_sid
        self.dial = dial or (lambda _number: "completed")

    # --- one call ----------------------------------------------------------------------
    def call(
        self,
        *,
        from_number: str,
        to_number: str,
        url: str = INBOUND_PATH,
        presses: Iterable[str] = (),
        answered_by: str | None = None,
        direction: str = "inbound",
        call_sid: str | None = None,
        status_callback: str | None = None,
        status_events: Iterable[str] = ("completed",),
        amd_callback: str | None = None,
    ) -> Transcript:
        """Play one call. `presses`: what the caller keys in at each `<Gather>` (and to end
        a `<Record>`), in order; when they run out, each `<Gather>` times out. `answered_by`
        (`human`, `machine_end_beep`, …): the AMD result; a machine presses nothing."""
        live = self.start(
            from_number=from_number,
            to_number=to_number,
            url=url,
            presses=presses,
            answered_by=answered_by,
            direction=direction,
            call_sid=call_sid,
            status_callback=status_callback,
            status_events=status_events,
            amd_callback=amd_callback,
        )
        return live.transcript

    def start(
        self,
        *,
        from_number: str,
        to_number: str,
        url: str = INBOUND_PATH,
        presses: Iterable[str] = (),
        answered_by: str | None = None,
        direction: str = "inbound",
        call_sid: str | None = None,
        status_callback: str | None = None,
        status_events: Iterable[str] = ("completed",),
        amd_callback: str | None = None,
        wait_for_keys: bool = False,
    ) -> LiveCall:
        """Start a call and play it until it ends, or (`wait_for_keys`) until a `<Gather>`
        waits for keys the caller has not pressed yet: `LiveCall.press` goes on from there."""
        sid = call_sid or new_call_sid()
        transcript = Transcript(sid, from_number, to_number)
        base = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "From": from_number,
            "Caller": from_number,
            "To": to_number,
            "Called": to_number,
            "Direction": direction,
        }
        machine = answered_by is not None and answered_by != "human"
        keys = Keypad([] if machine else list(presses), wait=wait_for_keys and not machine)
        events = set(status_events)
        if status_callback:
            for event, status in (("initiated", "queued"), ("ringing", "ringing")):
                if event in events:
                    self._send(transcript, status_callback, {**base, "CallStatus": status})
        in_progress = {**base, "CallStatus": "in-progress"}
        if answered_by is not None:
            in_progress["AnsweredBy"] = answered_by
        if status_callback and "answered" in events:
            self._send(transcript, status_callback, in_progress)
        live = LiveCall(self, transcript, keys, in_progress, status_callback, events)
        if amd_callback and answered_by is not None:
            live.amd = (amd_callback, {**base, "AnsweredBy": answered_by})
        live.advance(_Next(url, {}))
        return live

    # --- requests ----------------------------------------------------------------------
    def signed_headers(self, path: str, params: dict[str, str]) -> dict[str, str]:
        signature = self.verifier.signature(self.public_url + path, params).decode()
        return {"X-Twilio-Signature": signature}

    def _path(self, url: str, current: str) -> str:
        """A URL in a document, relative to the document's own (as Twilio resolves it);
        our own public URL is reduced to its path."""
        absolute = urljoin(self.public_url + current, url)
        if not absolute.startswith(self.public_url + "/"):
            raise InterpreterError(f"the sandbox calls only this app's URLs, not {url!r}")
        parts = urlsplit(absolute)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _send(self, transcript: Transcript, url: str, params: dict[str, str]) -> Reply:
        path = self._path(url, "/")
        reply = self.post(path, params, self.signed_headers(path, params))
        transcript.requests.append(Request(path, params, reply.status))
        if reply.status >= 400:
            transcript.failures.append(f"{path}: HTTP {reply.status}")
        return reply

    def _fetch(
        self, transcript: Transcript, step: _Next, call: dict[str, str]
    ) -> tuple[ET.Element | None, str]:
        path = step.url
        params = {**call, **step.params}
        reply = self.post(path, params, self.signed_headers(path, params))
        transcript.requests.append(Request(path, params, reply.status))
        if reply.status != 200:
            self._fail(transcript, f"{path}: HTTP {reply.status}")
            return None, path
        try:
            if self.validate is not None:
                self.validate(reply.body)
            root = ET.fromstring(reply.body)
        except (ET.ParseError, ValueError) as exc:
            self._fail(transcript, f"{path}: not valid TwiML ({exc})")
            return None, path
        if root.tag != "Response":
            self._fail(transcript, f"{path}: not valid TwiML (root <{root.tag}>)")
            return None, path
        return root, path

    def _fail(self, transcript: Transcript, reason: str) -> None:
        """What Twilio does when a webhook fails: the caller hears the fallback, the call
        ends; the failure is recorded."""
        transcript.failures.append(reason)
        transcript.lines.append(Line("error", reason))
        self._say(transcript, FALLBACK, {})
        transcript.lines.append(Line("hangup"))

    # --- verbs -------------------------------------------------------------------------
    def _run(
        self, transcript: Transcript, verbs: list[ET.Element], current: str, keys: Keypad
    ) -> _Next | _Paused | None:
        for i, verb in enumerate(verbs):
            run = getattr(self, f"_verb_{verb.tag.lower()}", None)
            if verb.tag not in VERBS or run is None:
                raise UnsupportedVerb(f"unsupported TwiML verb <{verb.tag}> in {current}")
            following: _Next | None = run(transcript, verb, current, keys)
            if following is PAUSE:
                return _Paused(verb, verbs[i + 1 :], current)
            if following is not None:
                return following
        return None  # out of verbs: the call ends

    def _say(self, transcript: Transcript, text: str, attrs: dict[str, str]) -> None:
        loops = max(1, _int(attrs.get("loop"), 1))
        transcript.lines.append(Line("say", text, dict(attrs)))
        transcript.seconds += loops * max(1.0, len(text.split()) / WORDS_PER_SECOND)

    def _verb_say(
        self, transcript: Transcript, verb: ET.Element, current: str, keys: Keypad
    ) -> None:
        self._say(transcript, " ".join((verb.text or "").split()), dict(verb.attrib))

    def _verb_play(
        self, transcript: Transcript, verb: ET.Element, current: str, keys: Keypad
    ) -> None:
        transcript.lines.append(Line("play", (verb.text or "").strip(), dict(verb.attrib)))
        transcript.seconds += 5

    def _verb_pause(
        self, transcript: Transcript, verb: ET.Element, current: str, keys: Keypad
    ) -> None:
        length = _int(verb.get("length"), 1)
        transcript.lines.append(Line("pause", f"{length} s", dict(verb.attrib)))
        transcript.seconds += length

    def _verb_gather(
        self, transcript: Transcript, verb: ET.Element, current: str, keys: Keypad
    ) -> _Next | None:
        for child in verb:
            if child.tag not in ("Say", "Play", "Pause"):
                raise UnsupportedVerb(f"unsupported TwiML verb <{child.tag}> inside <Gather>")
            getattr(self, f"_verb_{child.tag.lower()}")(transcript, child, current, keys)
        num_digits = _int(verb.get("numDigits"), 0)
        finish = verb.get("finishOnKey", "#")
        timeout = _int(verb.get("timeout"), 5)
        self._path(verb.get("action") or current, current)  # refused early when foreign
        self._method(verb)
        detail = f"{num_digits} digit(s)" if num_digits else f"until {finish or 'timeout'}"
        transcript.lines.append(Line("gather", f"{detail}, {timeout} s", dict(verb.attrib)))
        if keys.waiting():
            return PAUSE
        return self._gather_keys(transcript, verb, current, keys)

    def _gather_keys(
        self, transcript: Transcript, verb: ET.Element, current: str, keys: Keypad
    ) -> _Next | None:
        num_digits = _int(verb.get("numDigits"), 0)
        finish = verb.get("finishOnKey", "#")
        timeout = _int(verb.get("timeout"), 5)
        action = self._path(verb.get("action") or current, current)
        pressed = next(keys, None)
        if not pressed:
            transcript.lines.append(Line("timeout", f"{timeout} s"))
            transcript.seconds += timeout
            if _bool(verb.get("actionOnEmptyResult"), False):
                return _Next(action, {"Digits": ""})
            return None
        typed, finished = "", ""
        for key in pressed:
            if finish and key == finish:
                finished = key
                break
            typed += key
            if num_digits and len(typed) >= num_digits:
                break
        transcript.lines.append(Line("press", pressed))
        transcript.seconds += len(pressed)
        params = {"Digits": typed}
        if finished:
            params["FinishedOnKey"] = finished
        return _Next(action, params)

    def _verb_record(
        self, transcript: Transcript, verb: ET.Element, current: str, keys: Keypad
    ) -> _Next:
        action = self._path(verb.get("action") or current, current)
        self._method(verb)
        beep = " after a beep" if _bool(verb.get("playBeep"), True) else ""
        max_length = _int(verb.get("maxLength"), 3600)
        transcript.lines.append(Line("record", f"up to {max_length} s{beep}", dict(verb.attrib)))
        ended = next(keys, None)
        recording = "RE" + secrets.token_hex(16)
        params = {
            "RecordingSid": recording,
            "RecordingUrl": f"{self.public_url}/sandbox/recordings/{recording}",
            "RecordingDuration": "5",
        }
        if ended:
            transcript.lines.append(Line("press", ended))
            params["Digits"] = ended
        transcript.seconds += 5
        return _Next(action, params)

    def _verb_redirect(
        self, transcript: Transcript, verb: ET.Element, current: str, keys: Keypad
    ) -> _Next:
        self._method(verb)
        target = self._path((verb.text or "").strip() or current, current)
        transcript.lines.append(Line("redirect", target))
        return _Next(target, {}, redirect=True)

    def _verb_hangup(
        self, transcript: Transcript, verb: ET.Element, current: str, keys: Keypad
    ) -> _Next:
        transcript.lines.append(Line("hangup"))
        return END

    def _verb_reject(
        self, transcript: Transcript, verb: ET.Element, current: str, keys: Keypad
    ) -> _Next:
        reason = verb.get("reason", "rejected")
        transcript.lines.append(Line("reject", reason))
        transcript.status = "busy" if reason == "busy" else "no-answer"
        return END

    def _verb_dial(
        self, transcript: Transcript, verb: ET.Element, current: str, keys: Keypad
    ) -> _Next | None:
        numbers = [(n.text or "").strip() for n in verb if n.tag == "Number"]
        for child in verb:
            if child.tag != "Number":
                raise UnsupportedVerb(f"unsupported TwiML noun <{child.tag}> inside <Dial>")
        if not numbers and (verb.text or "").strip():
            numbers = [(verb.text or "").strip()]
        if not numbers:
            raise InterpreterError(f"<Dial> without a number in {current}")
        caller_id = verb.get("callerId", "")
        text = ", ".join(numbers) + (f" (caller ID {caller_id})" if caller_id else "")
        transcript.lines.append(Line("dial", text, dict(verb.attrib)))
        status = self.dial(numbers[0])
        transcript.lines.append(Line("status", f"dialed call {status}"))
        if not verb.get("action"):
            return None
        self._method(verb)
        params = {
            "DialCallStatus": status,
            "DialCallSid": new_call_sid(),
            "DialCallDuration": "30" if status == "completed" else "0",
        }
        return _Next(self._path(verb.get("action", ""), current), params)

    def _method(self, verb: ET.Element) -> None:
        method = verb.get("method", "POST").upper()
        if method != "POST":
            raise InterpreterError(f"<{verb.tag} method={method!r}>: the app answers POST only")
