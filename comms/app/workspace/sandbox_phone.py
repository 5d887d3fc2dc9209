"""The sandbox phone, `/sandbox/phone`: without Twilio, anyone running the service can be any
number, call the IVR line, answer the sandbox's reminder calls and the call desk's calls, read
the texts a number received and text back (STOP, HELP, START). No account is needed, and the
page exists only in the sandbox (with Twilio configured it answers 404).

Calls are played by the TwiML interpreter against this very app's webhooks, signed as Twilio
signs them, through an in-process client; a call in progress waits at each `<Gather>` for the
keypad. The JSON endpoints need the `X-Sandbox-Phone` header, which a page on another site
cannot send."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import col, select
from starlette.testclient import TestClient

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import HEADERS, page_route, render
from comms.app.workspace.security import PageError
from comms.models import Delivery, Vendor
from telephony import desk_call, sandbox_phone
from telephony.interpreter import INBOUND_PATH, STATUS_PATH, LiveCall, Poster, http_poster
from telephony.sandbox_phone import MACHINE, PhoneError, dialable, line_number

HEADER = "x-sandbox-phone"
KEEP_SECONDS = 1800


class Calls:
    """The live calls of this process, by CallSid (forgotten after half an hour)."""

    def __init__(self) -> None:
        self._calls: dict[str, tuple[float, LiveCall, int]] = {}
        self._lock = threading.Lock()

    def add(self, live: LiveCall) -> None:
        with self._lock:
            now = time.monotonic()
            for sid in [s for s, (t, _, _) in self._calls.items() if now - t > KEEP_SECONDS]:
                del self._calls[sid]
            self._calls[live.transcript.call_sid] = (now, live, 0)

    def get(self, sid: str) -> LiveCall:
        with self._lock:
            found = self._calls.get(sid)
        if found is None:
            raise PageError(404, "That call has ended.")
        return found[1]

    def news(self, live: LiveCall) -> dict[str, Any]:
        """What happened since the last answer about this call."""
        sid = live.transcript.call_sid
        with self._lock:
            at, _, shown = self._calls.get(sid, (time.monotonic(), live, 0))
            lines = live.transcript.lines[shown:]
            self._calls[sid] = (at, live, len(live.transcript.lines))
        return {
            "sid": sid,
            "lines": [{"kind": x.kind, "text": x.text, "shown": str(x)} for x in lines],
            "waiting": live.waiting,
            "ended": live.ended,
            "failures": live.transcript.failures,
        }


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    calls = Calls()
    settings = ws.settings

    def sandbox_only() -> None:
        if settings.twilio_configured:
            raise PageError(404, "The sandbox phone exists only without Twilio.")

    async def body(request: Request) -> dict[str, Any]:
        sandbox_only()
        if request.headers.get(HEADER) != "1":
            raise PageError(403, "The sandbox phone's requests come from its own page.")
        try:
            value = await request.json()
        except ValueError:
            raise PageError(422, "Not JSON.") from None
        if not isinstance(value, dict):
            raise PageError(422, "Not a JSON object.")
        return value

    def poster(request: Request) -> Poster:
        # the app itself, in-process (no lifespan: the running app already has one)
        return http_poster(TestClient(request.app, base_url="http://sandbox.local"))

    def answer(data: dict[str, Any], status: int = 200) -> Response:
        return JSONResponse(data, status_code=status, headers=HEADERS)

    def number(value: Any) -> str:
        try:
            return dialable(str(value or ""), settings)
        except PhoneError as exc:
            raise PageError(422, str(exc)) from None

    @api.get("/sandbox/phone")
    def page(request: Request) -> Response:
        sandbox_only()
        with ws.read() as session:
            vendors = session.exec(
                select(Vendor.name, Vendor.phone)
                .where(col(Vendor.phone).is_not(None), Vendor.active == True)  # noqa: E712
                .order_by(col(Vendor.name))
                .limit(200)
            ).all()
        return render(
            ws,
            request,
            "sandbox/phone.html",
            title="Sandbox phone",
            vendors=vendors,
            line=line_number(settings),
        )

    @api.post("/sandbox/phone/call")
    async def call(request: Request) -> Response:
        data = await body(request)
        caller = number(data.get("from"))

        def run() -> LiveCall:
            post = poster(request)
            interp = sandbox_phone.interpreter(settings, post)
            return interp.start(
                from_number=caller,
                to_number=line_number(settings),
                url=INBOUND_PATH,
                wait_for_keys=True,
                status_callback=STATUS_PATH,
            )

        live = await asyncio.to_thread(run)
        calls.add(live)
        return answer(calls.news(live))

    @api.post("/sandbox/phone/press")
    async def press(request: Request) -> Response:
        data = await body(request)
        live = calls.get(str(data.get("sid", "")))
        keys = str(data.get("keys") or "")[:32]

        def run() -> None:
            post = poster(request)
            live.interpreter.post = post
            live.press(keys or None)

        await asyncio.to_thread(run)
        return answer(calls.news(live))

    @api.post("/sandbox/phone/hangup")
    async def hangup(request: Request) -> Response:
        data = await body(request)
        live = calls.get(str(data.get("sid", "")))

        def run() -> None:
            post = poster(request)
            live.interpreter.post = post
            live.hangup()

        await asyncio.to_thread(run)
        return answer(calls.news(live))

    @api.get("/sandbox/phone/inbox")
    def inbox(request: Request, number_: str = "") -> Response:
        sandbox_only()
        wanted = number(request.query_params.get("number", number_))
        with ws.read() as session:
            items = sandbox_phone.inbox(session, wanted, settings=settings)
            reminder = sandbox_phone.ringing(session, wanted, settings=settings)
            desk = desk_call.sandbox_ringing(session, wanted)
        ringing = []
        if reminder is not None:
            ringing.append({"kind": "reminder", "id": reminder.id, "label": "Reminder call"})
        for task in desk:
            by = (task.outcome_data.get("call") or {}).get("by", "")
            ringing.append({"kind": "desk", "id": task.id, "label": f"Call desk ({by})"})
        return answer(
            {
                "number": wanted,
                "ringing": ringing,
                "items": [
                    {
                        "at": i.at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M"),
                        "kind": i.kind,
                        "text": i.text,
                        "status": i.status,
                    }
                    for i in items
                ],
            }
        )

    @api.post("/sandbox/phone/answer")
    async def answer_call(request: Request) -> Response:
        data = await body(request)
        phone = number(data.get("number"))
        machine = bool(data.get("machine"))
        kind, ident = str(data.get("kind", "")), int(data.get("id") or 0)
        if kind == "desk":
            with ws.write() as session:
                task = desk_call.sandbox_answer(
                    session, ident, answered_by=MACHINE if machine else "human", now=ws.now()
                )
            if task is None:
                raise PageError(409, "That call is no longer ringing.")
            ws.hub.publish("calls", {"task": ident, "action": "answered"})
            who = (task.outcome_data.get("call") or {}).get("by", "a caller")
            text = f"Connected to {who} at the call desk: talk to them as {phone}."
            return answer(
                {
                    "sid": "",
                    "lines": [{"kind": "status", "text": text, "shown": text}],
                    "waiting": False,
                    "ended": True,
                    "failures": [],
                }
            )
        with ws.read() as session:
            delivery = session.get(Delivery, ident)
        if delivery is None or delivery.recipient != phone or delivery.channel != "call":
            raise PageError(404, "No such call to this number.")

        def run() -> LiveCall:
            post = poster(request)
            interp = sandbox_phone.interpreter(settings, post)
            base = f"/twilio/voice/reminder/{delivery.id}"
            return interp.start(
                from_number=line_number(settings),
                to_number=phone,
                url=base,
                answered_by=MACHINE if machine else "human",
                direction="outbound-api",
                call_sid=delivery.provider_message_id or None,
                status_callback=STATUS_PATH,
                status_events=("initiated", "ringing", "answered", "completed"),
                amd_callback=f"{base}/amd",
                wait_for_keys=not machine,
            )

        live = await asyncio.to_thread(run)
        calls.add(live)
        return answer(calls.news(live))

    @api.post("/sandbox/phone/text")
    async def text(request: Request) -> Response:
        data = await body(request)
        sender = number(data.get("from"))
        message = str(data.get("body") or "").strip()[:1600]
        if not message:
            raise PageError(422, "Write a text first.")

        def run() -> sandbox_phone.Texted:
            post = poster(request)
            return sandbox_phone.send_text(settings, post, sender, message)

        sent = await asyncio.to_thread(run)
        return answer({"sid": sent.sid, "replies": sent.replies, "status": sent.status})

    return api
