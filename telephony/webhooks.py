"""The Twilio webhooks (stable paths: operators paste them into the Twilio console).

Every endpoint checks X-Twilio-Signature against COMMS_PUBLIC_URL + path (403 otherwise).
TwiML endpoints answer from the database; outbox rows they create are enqueued after the
response is sent. Every callback that writes (statuses, AMD, texts, menu choices that act, the
voicemail) is stored raw first and processed once per (sid, status) by the handler of its kind
(`telephony.callbacks`); a failure is quarantined and `comms webhooks-rerun` runs it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime

from fastapi import APIRouter, BackgroundTasks, Request, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from twilio.twiml.messaging_response import MessagingResponse

from comms.settings import Settings
from telephony import actions, events, ivr, ivr_menu, reminder_call
from telephony.callbacks import Callbacks, Kind
from telephony.gateway import make_client
from telephony.hours import parse_hours
from telephony.signatures import Verifier
from telephony.status_cache import StatusCache

log = logging.getLogger(__name__)

TWIML = "application/xml"
Clock = Callable[[], datetime]
Enqueue = Callable[[int, datetime], None]


def _twiml(body: str) -> Response:
    return Response(content=body, media_type=TWIML)


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
    router = APIRouter(prefix="/twilio")
    verifier = Verifier.for_settings(settings)
    reader = read_engine or engine
    callbacks = Callbacks(settings)

    def session() -> Session:
        return Session(engine, expire_on_commit=False)

    def menu_choice(
        kind: Kind,
        choices: Collection[str],
        params: dict[str, str],
        now: datetime,
        handler: events.Handler[list[int] | None],
        **route: object,
    ) -> tuple[bool, list[int]]:
        """Whether the caller's "3" connects now, and the outbox rows their choice made (a
        choice that acts is stored first, then applied once by `handler`)."""
        digits = params.get("Digits", "")
        connect = digits == "3" and actions.can_dial(settings, now)
        if digits not in choices or connect:
            return connect, []
        done = events.process_once(
            engine,
            kind,
            params.get("CallSid", ""),
            f"{kind}:{digits}",
            events.with_route(params, **route),
            handler,
            now=now,
        )
        return connect, done.value or []

    def read_session() -> Session:
        return Session(reader, expire_on_commit=False)

    def later(background: BackgroundTasks, ids: list[int], now: datetime) -> None:
        for delivery_id in ids:
            background.add_task(enqueue, delivery_id, now)

    # --- the IVR line ------------------------------------------------------------------------
    line = ivr.InboundLine(
        settings, engine, read_engine=read_engine, cache=StatusCache(), calllog=calllog
    )

    async def voice_inbound(request: Request) -> Response:
        # A plain Starlette endpoint (no FastAPI parameter solving): the line's hot path.
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
    router.add_route(
        router.prefix + "/voice/inbound", voice_inbound, methods=["POST"], include_in_schema=False
    )

    @router.post("/voice/ivr/code")
    async def ivr_code(request: Request, attempt: int = 1) -> Response:
        params = await verifier.form(request)
        now = clock()

        def run() -> str:
            with read_session() as s:
                return ivr.code_entered(s, params, attempt, now=now, settings=settings)

        return _twiml(await run_in_threadpool(run))

    @router.post("/voice/ivr/menu")
    async def ivr_choice(request: Request, background: BackgroundTasks, vendor: int) -> Response:
        params = await verifier.form(request)
        now = clock()

        def run() -> str:
            connect, ids = menu_choice(
                Kind.IVR_MENU, ivr_menu.ACTIONS, params, now, callbacks.ivr_menu, vendor=vendor
            )
            with read_session() as s:
                twiml = ivr_menu.answer(
                    s, vendor, params, now=now, settings=settings, connect=connect
                )
            later(background, ids, now)
            return twiml

        return _twiml(await run_in_threadpool(run))

    @router.post("/voice/ivr/recorded")
    async def ivr_recorded(request: Request, vendor: int | None = None) -> Response:
        params = await verifier.form(request)
        now = clock()

        def run() -> str:
            events.process_once(
                engine,
                Kind.VOICEMAIL,
                ivr_menu.voicemail_sid(params),
                "recorded",
                events.with_route(params, vendor=vendor),
                callbacks.voicemail,
                now=now,
            )
            with read_session() as s:
                return ivr_menu.voicemail_answer(s, vendor, settings=settings)

        return _twiml(await run_in_threadpool(run))

    # --- reminder calls ----------------------------------------------------------------------
    @router.post("/voice/reminder/{delivery_id}")
    async def reminder(request: Request, delivery_id: int) -> Response:
        await verifier.form(request)
        now = clock()

        def run() -> str:
            with read_session() as s:
                return reminder_call.answer(s, delivery_id, now=now, settings=settings)

        return _twiml(await run_in_threadpool(run))

    @router.post("/voice/reminder/{delivery_id}/noinput")
    async def reminder_noinput(request: Request, delivery_id: int, attempt: int = 1) -> Response:
        await verifier.form(request)
        now = clock()

        def run() -> str:
            with read_session() as s:
                return reminder_call.no_input(s, delivery_id, attempt, now=now, settings=settings)

        return _twiml(await run_in_threadpool(run))

    @router.post("/voice/reminder/{delivery_id}/menu")
    async def reminder_menu(
        request: Request, background: BackgroundTasks, delivery_id: int, attempt: int = 0
    ) -> Response:
        params = await verifier.form(request)
        now = clock()
        digits = params.get("Digits", "")

        def run() -> str:
            connect, ids = menu_choice(
                Kind.REMINDER_MENU,
                reminder_call.ACTIONS,
                params,
                now,
                callbacks.reminder_menu,
                delivery_id=delivery_id,
            )
            with read_session() as s:
                twiml = reminder_call.choice_answer(
                    s, delivery_id, digits, now=now, settings=settings, connect=connect
                )
            later(background, ids, now)
            return twiml

        return _twiml(await run_in_threadpool(run))

    @router.post("/voice/reminder/{delivery_id}/amd")
    async def reminder_amd(request: Request, delivery_id: int) -> Response:
        params = await verifier.form(request)
        now = clock()

        def run() -> None:
            done = events.process_once(
                engine,
                Kind.AMD,
                params.get("CallSid", ""),
                "amd:" + params.get("AnsweredBy", ""),
                events.with_route(params, delivery_id=delivery_id),
                callbacks.amd,
                now=now,
            )
            if done.value:
                leave_voicemail(delivery_id, params.get("CallSid", ""), now)

        await run_in_threadpool(run)
        return Response(status_code=204)

    def leave_voicemail(delivery_id: int, call_sid: str, now: datetime) -> None:
        with session() as s:
            twiml = reminder_call.voicemail_twiml(s, delivery_id, now=now, settings=settings)
        if twiml is None or not settings.twilio_configured:
            return
        try:
            make_client(settings).calls(call_sid).update(twiml=twiml)
        except Exception as exc:  # the call may have ended meanwhile
            log.warning("voicemail for delivery %s not left: %s", delivery_id, exc)

    @router.post("/voice/status")
    async def voice_status(request: Request) -> Response:
        params = await verifier.form(request)
        now = clock()
        await run_in_threadpool(
            events.process_once,
            engine,
            Kind.VOICE_STATUS,
            params.get("CallSid", ""),
            params.get("CallStatus", ""),
            params,
            reminder_call.apply_call_status,
            now=now,
        )
        return Response(status_code=204)

    # --- SMS ---------------------------------------------------------------------------------
    @router.post("/sms/status")
    async def sms_status(request: Request) -> Response:
        params = await verifier.form(request)
        now = clock()
        await run_in_threadpool(
            events.process_once,
            engine,
            Kind.SMS_STATUS,
            params.get("MessageSid", ""),
            params.get("MessageStatus", ""),
            params,
            callbacks.sms_status,
            now=now,
        )
        return Response(status_code=204)

    @router.post("/sms/inbound")
    async def sms_inbound(request: Request) -> Response:
        params = await verifier.form(request)
        now = clock()
        done = await run_in_threadpool(
            events.process_once,
            engine,
            Kind.SMS_INBOUND,
            params.get("MessageSid", ""),
            "received",
            params,
            callbacks.sms_inbound,
            now=now,
        )
        response = MessagingResponse()
        for text in done.value or []:
            response.message(text)
        return _twiml(str(response.to_xml(xml_declaration=True)))

    return router
