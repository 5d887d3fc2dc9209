"""The Twilio webhooks (stable paths: operators paste them into the Twilio console).

Every endpoint checks X-Twilio-Signature against COMMS_PUBLIC_URL + path (403 otherwise).
TwiML endpoints answer from the database; outbox rows they create are enqueued after the
response is sent. Status callbacks are stored and processed once per (sid, status).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, BackgroundTasks, Request, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from twilio.twiml.messaging_response import MessagingResponse

from comms.context import template_context
from comms.settings import Settings
from telephony import events, ivr, reminder_call, render
from telephony.models import InboundMessage
from telephony.optout import handle_text
from telephony.phone import find_caller, normalize
from telephony.signatures import Verifier
from telephony.sms import apply_sms_status
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
    row at once, with `engine`)."""
    router = APIRouter(prefix="/twilio")
    verifier = Verifier.for_settings(settings)
    reader = read_engine or engine

    def session() -> Session:
        return Session(engine, expire_on_commit=False)

    def read_session() -> Session:
        return Session(reader, expire_on_commit=False)

    def later(background: BackgroundTasks, ids: list[int], now: datetime) -> None:
        for delivery_id in ids:
            background.add_task(enqueue, delivery_id, now)

    def reply(
        background: BackgroundTasks, now: datetime, work: Callable[[Session], reminder_call.Reply]
    ) -> Callable[[], str]:
        def run() -> str:
            with session() as s:
                result = work(s)
                s.commit()
            later(background, result.enqueue, now)
            return result.twiml

        return run

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
    async def ivr_menu(request: Request, background: BackgroundTasks, vendor: int) -> Response:
        params = await verifier.form(request)
        now = clock()
        run = reply(
            background, now, lambda s: ivr.choose(s, vendor, params, now=now, settings=settings)
        )
        return _twiml(await run_in_threadpool(run))

    @router.post("/voice/ivr/recorded")
    async def ivr_recorded(request: Request, vendor: int | None = None) -> Response:
        params = await verifier.form(request)
        now = clock()

        def run() -> str:
            with session() as s:
                out = ivr.recorded(s, vendor, params, now=now, settings=settings)
                s.commit()
                return out

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
        run = reply(
            background,
            now,
            lambda s: reminder_call.choose(
                s, delivery_id, digits, params, now=now, settings=settings
            ),
        )
        return _twiml(await run_in_threadpool(run))

    @router.post("/voice/reminder/{delivery_id}/amd")
    async def reminder_amd(
        request: Request, background: BackgroundTasks, delivery_id: int
    ) -> Response:
        params = await verifier.form(request)
        now = clock()
        machine: list[bool] = []

        def handle(s: Session, p: dict[str, str], at: datetime) -> None:
            machine.append(reminder_call.machine_answered(s, delivery_id, p, at))

        def run() -> None:
            events.process_once(
                engine,
                "amd",
                params.get("CallSid", ""),
                "amd:" + params.get("AnsweredBy", ""),
                params,
                handle,
                now=now,
            )
            if machine and machine[0]:
                leave_voicemail(delivery_id, params.get("CallSid", ""), now)

        await run_in_threadpool(run)
        return Response(status_code=204)

    def leave_voicemail(delivery_id: int, call_sid: str, now: datetime) -> None:
        with session() as s:
            twiml = reminder_call.voicemail_twiml(s, delivery_id, now=now, settings=settings)
        if twiml is None or not settings.twilio_configured:
            return
        from telephony.gateway import make_client

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
            "voice_status",
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

        def handle(s: Session, p: dict[str, str], at: datetime) -> None:
            apply_sms_status(
                s,
                p.get("MessageSid", ""),
                p.get("MessageStatus", ""),
                p.get("ErrorCode") or None,
                now=at,
            )

        await run_in_threadpool(
            events.process_once,
            engine,
            "sms_status",
            params.get("MessageSid", ""),
            params.get("MessageStatus", ""),
            params,
            handle,
            now=now,
        )
        return Response(status_code=204)

    @router.post("/sms/inbound")
    async def sms_inbound(request: Request) -> Response:
        params = await verifier.form(request)
        now = clock()
        answer: list[str] = []

        def handle(s: Session, p: dict[str, str], at: datetime) -> None:
            phone = normalize(p.get("From"), settings.default_region) or p.get("From", "")
            body = p.get("Body", "")
            result = handle_text(s, phone, body, now=at)
            vendor, agent = find_caller(s, phone, settings.default_region)
            s.add(
                InboundMessage(
                    kind="sms",
                    sid=p.get("MessageSid", ""),
                    from_number=phone,
                    to_number=p.get("To", ""),
                    body=body,
                    vendor_id=vendor.id if vendor else None,
                    agent_id=agent.id if agent else None,
                    action=result.action,
                    payload=p,
                    received_at=at,
                )
            )
            if result.reply_template:
                if vendor is not None:
                    context = template_context(s, vendor, now=at, settings=settings)
                else:
                    context = ivr._org(settings)
                answer.append(render.sms(result.reply_template, context))

        await run_in_threadpool(
            events.process_once,
            engine,
            "sms_inbound",
            params.get("MessageSid", ""),
            "received",
            params,
            handle,
            now=now,
        )
        response = MessagingResponse()
        for text in answer:
            response.message(text)
        return _twiml(str(response.to_xml(xml_declaration=True)))

    return router
