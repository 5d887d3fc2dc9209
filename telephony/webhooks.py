"""The Twilio webhooks (stable paths: operators paste them into the Twilio console).

Every endpoint checks X-Twilio-Signature against COMMS_PUBLIC_URL + path (403 otherwise).
The endpoints are one table, ROUTES: a path, the kind of callback it stores (None: it only
reads), the key it is stored under and what it answers; one generic endpoint does verify →
store → handle → answer for each. A callback that writes (statuses, AMD, texts, menu choices
that act, the voicemail) is stored raw first and processed once per (sid, status) by the
handler of its kind (`telephony.callbacks`); a failure is quarantined and
`comms webhooks-rerun` runs it again. TwiML answers read the database; outbox rows a choice
creates are enqueued after the response is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.background import BackgroundTasks
from starlette.concurrency import run_in_threadpool
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from comms.settings import Settings
from telephony import events, ivr, ivr_menu, menus, reminder_call
from telephony.callbacks import Callbacks, Kind
from telephony.gateway import make_client
from telephony.hours import parse_hours
from telephony.signatures import Verifier
from telephony.status_cache import StatusCache

log = logging.getLogger(__name__)

TWIML = "application/xml"
PREFIX = "/twilio"
Clock = Callable[[], datetime]
Enqueue = Callable[[int, datetime], None]
REQUIRED = object()  # a query argument without a default


def _twiml(body: str) -> Response:
    return Response(content=body, media_type=TWIML)


@dataclass
class Call:
    """One verified request: Twilio's parameters, the route's arguments, the time, and
    (after the store) what processing it did (None: nothing was stored)."""

    params: dict[str, str]
    args: dict[str, Any]
    now: datetime
    done: events.Processed[Any] | None = None
    background: BackgroundTasks = field(default_factory=BackgroundTasks)


Key = Callable[[Call], tuple[str, str] | None]  # (sid, status) to store under; None: do not
Answer = Callable[[Call], Response]


@dataclass(frozen=True)
class Route:
    path: str  # under /twilio; `{name:int}` path arguments
    kind: Kind | None  # what it stores (handled by the kind's handler); None: it only reads
    answer: Answer
    key: Key | None = None
    query: dict[str, object] = field(default_factory=dict)  # int arguments and their defaults
    stored_args: tuple[str, ...] = ()  # the arguments stored with the parameters


def _param(name: str, status: str | None = None, status_param: str | None = None) -> Key:
    """The key of a callback: its `name` parameter (a SID), and a fixed status or another
    parameter's value."""

    def key(call: Call) -> tuple[str, str]:
        value = call.params.get(status_param, "") if status_param else status or ""
        return call.params.get(name, ""), value

    return key


def _choice(menu: menus.Menu, settings: Settings) -> Key:
    """A menu choice is stored when it acts and does not put the caller through now."""

    def key(call: Call) -> tuple[str, str] | None:
        digits = call.params.get("Digits", "")
        if not menus.acts(menu, digits) or menus.connects(menu, digits, settings, call.now):
            return None
        return call.params.get("CallSid", ""), f"{menu.kind}:{digits}"

    return key


def _int(request: Request, name: str, default: object) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        if default is REQUIRED:
            raise HTTPException(status_code=422, detail=f"query argument {name!r} missing")
        return default if isinstance(default, int) else None
    try:
        return int(raw)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"{name}: not an integer") from None


def make_router(
    settings: Settings,
    engine: Engine,
    *,
    clock: Clock,
    enqueue: Enqueue,
    calllog: ivr.CallLogSink | None = None,
    read_engine: Engine | None = None,
) -> APIRouter:
    """`read_engine`: for endpoints that only read (SQLite: deferred transactions, so they do
    not queue on the write lock). `calllog` stores the inbound line's log rows (default: each
    row at once, with `engine`). A COMMS_CALL_CENTER_HOURS it cannot read stops it here
    (HoursError, a SettingsError naming the setting), not at a caller's choice."""
    parse_hours(settings.call_center_hours)
    router = APIRouter(prefix=PREFIX)
    verifier = Verifier.for_settings(settings)
    reader = read_engine or engine
    handlers = Callbacks(settings).handlers()

    def read(build: Callable[[Session, Call], str]) -> Answer:
        """TwiML built from the database, reading only."""

        def answer(call: Call) -> Response:
            with Session(reader, expire_on_commit=False) as s:
                return _twiml(build(s, call))

        return answer

    def no_content(call: Call) -> Response:
        return Response(status_code=204)

    def hang_up(call: Call) -> Response:
        """The end of a bridged call from the desk: the caller's phone hangs up too."""
        response = VoiceResponse()
        response.hangup()
        return _twiml(str(response.to_xml(xml_declaration=True)))

    def enqueue_made(call: Call) -> None:
        """The outbox rows a choice made, enqueued after the response is sent."""
        for delivery_id in (call.done.value if call.done else None) or []:
            call.background.add_task(enqueue, delivery_id, call.now)

    def connected(menu: menus.Menu, call: Call) -> bool:
        """A choice that connects and was not stored is being put through."""
        choice = menu.choice(call.params.get("Digits", ""))
        return call.done is None and choice is not None and choice.connect

    def ivr_choice(s: Session, call: Call) -> str:
        enqueue_made(call)
        connect = connected(menus.IVR_MENU, call)
        vendor = call.args["vendor"]
        return ivr_menu.answer(
            s, vendor, call.params, now=call.now, settings=settings, connect=connect
        )

    def reminder_choice(s: Session, call: Call) -> str:
        enqueue_made(call)
        return reminder_call.choice_answer(
            s,
            call.args["delivery_id"],
            call.params.get("Digits", ""),
            now=call.now,
            settings=settings,
            connect=connected(menus.REMINDER_MENU, call),
        )

    def amd_answer(call: Call) -> Response:
        if call.done is not None and call.done.value:
            leave_voicemail(call.args["delivery_id"], call.params.get("CallSid", ""), call.now)
        return Response(status_code=204)

    def leave_voicemail(delivery_id: int, call_sid: str, now: datetime) -> None:
        with Session(engine, expire_on_commit=False) as s:
            twiml = reminder_call.voicemail_twiml(s, delivery_id, now=now, settings=settings)
        if twiml is None or not settings.twilio_configured:
            return
        try:
            make_client(settings).calls(call_sid).update(twiml=twiml)
        except Exception as exc:  # the call may have ended meanwhile
            log.warning("voicemail for delivery %s not left: %s", delivery_id, exc)

    def sms_reply(call: Call) -> Response:
        response = MessagingResponse()
        for text in (call.done.value if call.done else None) or []:
            response.message(text)
        return _twiml(str(response.to_xml(xml_declaration=True)))

    reminder = "/voice/reminder/{delivery_id:int}"
    routes = (
        Route(
            "/voice/ivr/code",
            None,
            read(
                lambda s, c: ivr.code_entered(
                    s, c.params, c.args["attempt"], now=c.now, settings=settings
                )
            ),
            query={"attempt": 1},
        ),
        Route(
            "/voice/ivr/menu",
            Kind.IVR_MENU,
            read(ivr_choice),
            key=_choice(menus.IVR_MENU, settings),
            query={"vendor": REQUIRED},
            stored_args=("vendor",),
        ),
        Route(
            "/voice/ivr/recorded",
            Kind.VOICEMAIL,
            read(lambda s, c: ivr_menu.voicemail_answer(s, c.args["vendor"], settings=settings)),
            key=lambda c: (ivr_menu.voicemail_sid(c.params), "recorded"),
            query={"vendor": None},
            stored_args=("vendor",),
        ),
        Route(
            reminder,
            None,
            read(
                lambda s, c: reminder_call.answer(
                    s, c.args["delivery_id"], now=c.now, settings=settings
                )
            ),
        ),
        Route(
            reminder + "/noinput",
            None,
            read(
                lambda s, c: reminder_call.no_input(
                    s, c.args["delivery_id"], c.args["attempt"], now=c.now, settings=settings
                )
            ),
            query={"attempt": 1},
        ),
        Route(
            reminder + "/menu",
            Kind.REMINDER_MENU,
            read(reminder_choice),
            key=_choice(menus.REMINDER_MENU, settings),
            query={"attempt": 0},
            stored_args=("delivery_id",),
        ),
        Route(
            reminder + "/amd",
            Kind.AMD,
            amd_answer,
            key=lambda c: (
                c.params.get("CallSid", ""),
                "amd:" + c.params.get("AnsweredBy", ""),
            ),
            stored_args=("delivery_id",),
        ),
        Route(
            "/voice/desk/{task_id:int}/dial",
            Kind.DESK_DIAL,
            hang_up,
            key=lambda c: (
                c.params.get("CallSid", ""),
                "dial:" + c.params.get("DialCallStatus", ""),
            ),
            stored_args=("task_id",),
        ),
        Route(
            "/voice/status",
            Kind.VOICE_STATUS,
            no_content,
            key=_param("CallSid", status_param="CallStatus"),
        ),
        Route(
            "/sms/status",
            Kind.SMS_STATUS,
            no_content,
            key=_param("MessageSid", status_param="MessageStatus"),
        ),
        Route("/sms/inbound", Kind.SMS_INBOUND, sms_reply, key=_param("MessageSid", "received")),
    )

    def endpoint(route: Route) -> Callable[[Request], Any]:
        handler = handlers[route.kind] if route.kind is not None else None

        async def serve(request: Request) -> Response:
            params = await verifier.form(request)
            args: dict[str, Any] = dict(request.path_params)
            args.update({name: _int(request, name, d) for name, d in route.query.items()})
            call = Call(params, args, clock())

            def run() -> Response:
                key = route.key(call) if route.key is not None else None
                if handler is not None and route.kind is not None and key is not None:
                    stored = events.with_route(
                        params, **{name: args.get(name) for name in route.stored_args}
                    )
                    call.done = events.process_once(
                        engine, route.kind, *key, stored, handler, now=call.now
                    )
                response = route.answer(call)
                response.background = call.background
                return response

            return await run_in_threadpool(run)

        return serve

    # --- the IVR line: its hot path answers on the event loop -----------------------------
    line = ivr.InboundLine(
        settings, engine, read_engine=read_engine, cache=StatusCache(), calllog=calllog
    )

    async def voice_inbound(request: Request) -> Response:
        params = await verifier.form(request)
        now = clock()
        # A known caller with a cached status is answered on the event loop (one indexed
        # query; a thread hop costs more than the work). Otherwise the TwiML is built in a
        # thread: templates and several ORM queries.
        twiml = line.cached(params, now)
        if twiml is None:
            twiml = await run_in_threadpool(line.answer, params, now)
        return _twiml(twiml)

    # APIRouter applies its prefix to its API routes only
    router.add_route(PREFIX + "/voice/inbound", voice_inbound, methods=["POST"])
    for route in routes:
        router.add_route(PREFIX + route.path, endpoint(route), methods=["POST"])
    return router
