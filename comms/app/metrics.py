"""`/metrics` (Prometheus text format), `/healthz` and `/readyz`.

`/metrics` reads the counts from the database at each scrape (one query per table) and adds
the timings the processes observed (`comms.metrics`; every process's, in multiprocess mode):

- `comms_deliveries{channel,status}`: outbox rows by channel and outcome;
- `comms_outbox_backlog`, `comms_outbox_oldest_seconds`: queued rows due now, the oldest's age;
- `comms_cases{state}`: escalation cases by state;
- `comms_inbound_messages{status}`: inbound mail (processed, review, quarantined, …);
- `comms_call_tasks_waiting`, `comms_call_task_oldest_seconds`: open call tasks, the oldest's age;
- `comms_verdict_drift_vendors`, `comms_verdict_drift_counts`, `comms_verdict_check_age_seconds`:
  what the last `comms verdicts check` found (stored verdicts that differ from a fresh
  computation; status counts kept wrong) and how long ago it ran (`comms.verdict_drift`;
  absent until a check has run);
- `comms_extraction_seconds`, `comms_webhook_seconds`: histograms.

`/healthz`: the process answers. `/readyz`: the database and the broker answer (503 naming
the one that does not).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.types import ASGIApp, Receive, Scope, Send

from comms.broker import broker_state
from comms.metrics import HISTOGRAMS, WEBHOOK_SECONDS
from comms.models import Case, Delivery, DeliveryStatus
from comms.settings import Settings
from comms.verdict_drift import last_check
from inbound.models import InboundEmail
from telephony.models import CallTask, TaskStatus
from telephony.webhooks import PREFIX


class DatabaseCollector:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        with Session(self.engine) as s:
            deliveries = GaugeMetricFamily(
                "comms_deliveries",
                "Outbox rows by channel and status.",
                labels=["channel", "status"],
            )
            for channel, status, count in s.exec(
                select(Delivery.channel, Delivery.status, func.count()).group_by(
                    col(Delivery.channel), col(Delivery.status)
                )
            ):
                deliveries.add_metric([channel, status], count)
            yield deliveries
            due = (col(Delivery.status) == DeliveryStatus.QUEUED.value) & (
                col(Delivery.next_attempt_at).is_(None) | (col(Delivery.next_attempt_at) <= now)
            )
            backlog, oldest = s.exec(
                select(func.count(), func.min(Delivery.created_at)).where(due)
            ).one()
            yield GaugeMetricFamily("comms_outbox_backlog", "Queued rows due now.", value=backlog)
            yield GaugeMetricFamily(
                "comms_outbox_oldest_seconds",
                "Age of the oldest queued row due now (0: none).",
                value=_age(now, oldest),
            )
            cases = GaugeMetricFamily("comms_cases", "Escalation cases by state.", labels=["state"])
            for state, count in s.exec(select(Case.state, func.count()).group_by(col(Case.state))):
                cases.add_metric([state], count)
            yield cases
            inbound = GaugeMetricFamily(
                "comms_inbound_messages", "Inbound messages by status.", labels=["status"]
            )
            for status, count in s.exec(
                select(InboundEmail.status, func.count()).group_by(col(InboundEmail.status))
            ):
                inbound.add_metric([status], count)
            yield inbound
            waiting, first = s.exec(
                select(func.count(), func.min(CallTask.created_at)).where(
                    col(CallTask.status) == TaskStatus.OPEN.value
                )
            ).one()
            yield GaugeMetricFamily(
                "comms_call_tasks_waiting", "Call tasks waiting for a caller.", value=waiting
            )
            yield GaugeMetricFamily(
                "comms_call_task_oldest_seconds",
                "Age of the oldest waiting call task (0: none).",
                value=_age(now, first),
            )
            check = last_check(s)
            if check is not None:
                yield GaugeMetricFamily(
                    "comms_verdict_drift_vendors",
                    "Vendors whose stored verdict differed from a fresh computation at the last "
                    "`comms verdicts check`.",
                    value=check.vendors,
                )
                yield GaugeMetricFamily(
                    "comms_verdict_drift_counts",
                    "Status counts kept wrong at the last `comms verdicts check`.",
                    value=check.counts,
                )
                yield GaugeMetricFamily(
                    "comms_verdict_check_age_seconds",
                    "Time since the last `comms verdicts check`.",
                    value=_age(now, check.at),
                )


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:  # SQLite's aggregate comes back naive (UTC)
        then = then.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - then).total_seconds())


def render_metrics(engine: Engine, clock: Callable[[], datetime]) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # every process's histograms, from their files
    else:
        for histogram in HISTOGRAMS:
            registry.register(histogram)
    registry.register(DatabaseCollector(engine, clock))
    return generate_latest(registry)


def readiness(engine: Engine, settings: Settings) -> dict[str, str]:
    """ "ok" or what failed, for the database and the broker."""
    out: dict[str, str] = {}
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        out["database"] = "ok"
    except Exception as exc:
        out["database"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    out["broker"] = broker_state(settings)
    return out


def add_operations(
    app: FastAPI, engine: Engine, settings: Settings, clock: Callable[[], datetime]
) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        state = readiness(engine, settings)
        ready = all(v == "ok" for v in state.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", **state},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(render_metrics(engine, clock), media_type=CONTENT_TYPE_LATEST)


class WebhookTimer:
    """ASGI middleware: the time to answer each Twilio webhook (`comms_webhook_seconds`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            WEBHOOK_SECONDS.observe(time.perf_counter() - started)
