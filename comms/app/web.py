"""The web app: the body cap, each package's routes (telephony's: the Twilio webhooks and the
staff JSON API), the staff workspace (`comms.app.workspace`) and a health check. `comms web`
serves it; `comms run` starts it alongside the workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from comms.actors import enqueue_delivery
from comms.app.metrics import WebhookTimer, add_operations
from comms.app.web_guard import SecurityHeaders, add_docs
from comms.app.workspace import make_workspace
from comms.app.workspace.api_auth import api_authenticator
from comms.body_limit import BodyLimit
from comms.db import get_engine, make_engine
from comms.settings import Settings, get_settings
from comms.timeutil import utcnow
from telephony.routes import make_routes

log = logging.getLogger(__name__)


def _enqueue(delivery_id: int, now: datetime) -> None:
    """Hand a new outbox row to the workers; a failure is harmless (the sweep finds it)."""
    try:
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
    s = settings or get_settings()
    db = engine or _engine(s)
    url = s.effective_database_url
    reader = (
        make_engine(url, pooled=True, immediate=False)
        if engine is None and url.startswith("sqlite")
        else db
    )
    workspace = make_workspace(s, db, reader=reader, clock=clock, enqueue=enqueue)
    telephony = make_routes(
        s,
        db,
        clock=clock,
        enqueue=enqueue,
        batched_call_log=batched_call_log,
        read_engine=reader,
        authenticate=api_authenticator(workspace.workspace),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        workspace.start()  # its PostgreSQL LISTEN thread, while the app serves
        yield
        workspace.close()
        telephony.close()

    app = FastAPI(
        title=f"{s.organization_name} COI communications",
        docs_url=None,  # served to signed-in staff only: `add_docs`
        openapi_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    # a certificate upload (the workspace) may be as large as an emailed attachment
    app.add_middleware(
        BodyLimit,
        larger=[(r"/vendors/\d{1,12}/certificates", s.max_attachment_bytes + 4096)],
        timeout=s.web_body_timeout,
    )
    app.add_middleware(SecurityHeaders, https=s.public_url.startswith("https:"))
    app.add_middleware(WebhookTimer)
    add_docs(app, workspace.workspace)
    for router in telephony.routers:
        app.include_router(router)
    for router in workspace.routers:
        app.include_router(router)
    app.mount("/static", workspace.static, name="static")
    app.state.workspace = workspace.workspace

    add_operations(app, db, s, clock)  # /healthz, /readyz, /metrics
    return app
