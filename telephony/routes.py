"""Telephony's part of the web app: the Twilio webhooks and the staff API, with the call log
the inbound line writes. `comms.app.web` includes the routers and closes the log on shutdown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from sqlalchemy.engine import Engine

from comms.settings import Settings
from telephony import api, webhooks
from telephony.calllog import CallLog, DirectLog


@dataclass(frozen=True)
class Routes:
    routers: list[APIRouter]
    close: Callable[[], None]


def make_routes(
    settings: Settings,
    engine: Engine,
    *,
    clock: Callable[[], datetime],
    enqueue: Callable[[int, datetime], None],
    batched_call_log: bool = True,
    read_engine: Engine | None = None,
    authenticate: Callable[[Request], str | None] | None = None,
) -> Routes:
    """`batched_call_log=False` stores each inbound call's log row before answering (tests
    that read it right away); the default writes it in batches off the request path.
    `read_engine`: for the endpoints that only read."""
    calllog = CallLog(engine) if batched_call_log else DirectLog(engine)
    tokens = {name: token.get_secret_value() for name, token in settings.staff_tokens.items()}
    return Routes(
        routers=[
            webhooks.make_router(
                settings,
                engine,
                clock=clock,
                enqueue=enqueue,
                calllog=calllog,
                read_engine=read_engine,
            ),
            api.make_router(engine, clock=clock, tokens=tokens, authenticate=authenticate),
        ],
        close=calllog.close,
    )
