"""The web app: Twilio webhooks and the staff JSON API. `comms web` serves it; `comms run`
starts it alongside the workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from comms.body_limit import BodyLimit
from comms.db import get_engine, make_engine
from comms.settings import Settings, get_settings
from comms.timeutil import utcnow

log = logging.getLogger(__name__)


def _enqueue(delivery_id: int, now: datetime) -> None:
    """Hand a new outbox row to the workers; a failure is harmless (the sweep finds it)."""
    try:
        from workflows.actors import enqueue_delivery

        enqueue_delivery(delivery_id)
    except Exception as exc:
        log.warning("delivery %s not enqueued (the sweep will pick it up): %s", delivery_id, exc)


def _engine(settings: Settings) -> Engine:
    """A server keeps its SQLite connections open (a pool), instead of one per request."""
    url = settings.effective_database_url
    return make_engine(url, pooled=True) if url.startswith("sqlite") else get_engine(url)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = utcnow,
    enqueue: Callable[[int, datetime], None] = _enqueue,
    batched_call_log: bool = True,
) -> FastAPI:
    """`batched_call_log=False` stores each inbound call's log row before answering (tests
    that read it right away); the default writes it in batches off the request path."""
    from telephony import api, webhooks
    from telephony.calllog import CallLog, DirectLog

    s = settings or get_settings()
    db = engine or _engine(s)
    url = s.effective_database_url
    reader = (
        make_engine(url, pooled=True, immediate=False)
        if engine is None and url.startswith("sqlite")
        else db
    )
    calllog = CallLog(db) if batched_call_log else DirectLog(db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        calllog.close()

    app = FastAPI(
        title=f"{s.organization_name} COI communications",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit)
    app.include_router(
        webhooks.make_router(
            s, db, clock=clock, enqueue=enqueue, calllog=calllog, read_engine=reader
        )
    )
    tokens = {name: token.get_secret_value() for name, token in s.staff_tokens.items()}
    app.include_router(api.make_router(db, clock=clock, tokens=tokens))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
