"""Each Twilio callback is processed once.

Its raw parameters are stored and committed first, unique on (sid, status): a repeat finds
the row and is not processed again, and a crash while processing leaves the row behind
(`processed_at` empty) instead of losing it. Processing then runs in a transaction of its
own that first claims the row (sets `processed_at` where it is still empty), so a re-run and
the live request never both apply it. A callback whose processing raised keeps its error (the
quarantine); `reprocess` runs every unprocessed row again with the handler of its kind."""

from __future__ import annotations

import enum
import logging
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from comms.redact import redact
from telephony.models import WebhookEvent

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[Session, dict[str, str], datetime], T]
MAX_ERROR = 2000  # characters of an error kept on the row


class Outcome(enum.StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"  # stored before (or processed meanwhile): not processed again
    QUARANTINED = "quarantined"  # the handler raised: kept with its error, re-runnable


@dataclass(frozen=True)
class Processed(Generic[T]):
    outcome: Outcome
    value: T | None = None  # what the handler returned (PROCESSED only)
    event_id: int | None = None
    error: str | None = None  # why it was quarantined


@dataclass
class Rerun:
    """What `reprocess` did: ids of rows it could not handle or that failed again."""

    processed: int = 0
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # id, kind, error
    unhandled: Counter[str] = field(default_factory=Counter)  # kind → rows with no handler


def store(
    engine: Engine,
    kind: str,
    sid: str,
    status: str,
    params: Mapping[str, str],
    *,
    now: datetime,
    error: str | None = None,
) -> int | None:
    """Commit the raw callback, unprocessed (`error`: stored straight into quarantine). Its
    row id, or None when (sid, status) was stored before."""
    with Session(engine, expire_on_commit=False) as session:
        event = WebhookEvent(
            kind=kind, sid=sid, status=status, payload=dict(params), received_at=now, error=error
        )
        session.add(event)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return None
        return event.id


def run(
    engine: Engine,
    event_id: int,
    kind: str,
    params: dict[str, str],
    handler: Handler[T],
    *,
    now: datetime,
) -> Processed[T]:
    """Process a stored callback in one transaction that claims it first."""
    with Session(engine, expire_on_commit=False) as session:
        claim = session.execute(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == event_id, col(WebhookEvent.processed_at).is_(None))
            .values(processed_at=now, error=None)
        )
        if claim.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return Processed(Outcome.DUPLICATE, event_id=event_id)
        try:
            value = handler(session, params, now)
            session.commit()
            return Processed(Outcome.PROCESSED, value, event_id)
        except Exception as exc:  # quarantined: the row keeps its error, re-runnable
            session.rollback()
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
            trace = "".join(traceback.format_exception(exc))
    log.error("%s callback %s quarantined: %s", kind, event_id, redact(trace))
    with Session(engine) as session:  # unless a re-run has processed it meanwhile
        session.execute(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == event_id, col(WebhookEvent.processed_at).is_(None))
            .values(error=error)
        )
        session.commit()
    return Processed(Outcome.QUARANTINED, event_id=event_id, error=error)


def process_once(
    engine: Engine,
    kind: str,
    sid: str,
    status: str,
    params: dict[str, str],
    handler: Handler[T],
    *,
    now: datetime,
) -> Processed[T]:
    """Store, then process, a callback (DUPLICATE when (sid, status) was seen before)."""
    event_id = store(engine, kind, sid, status, params, now=now)
    if event_id is None:
        return Processed(Outcome.DUPLICATE)
    return run(engine, event_id, kind, params, handler, now=now)


def reprocess(engine: Engine, handlers: Mapping[str, Handler[object]], *, now: datetime) -> Rerun:
    """Run every stored, unprocessed callback again: the quarantined ones and any left
    behind by a crash. A kind without a handler is counted in `unhandled`, not skipped."""
    with Session(engine) as session:
        pending = session.exec(
            select(WebhookEvent.id, WebhookEvent.kind, WebhookEvent.payload)
            .where(col(WebhookEvent.processed_at).is_(None))
            .order_by(col(WebhookEvent.id))
        ).all()
    report = Rerun()
    for event_id, kind, payload in pending:
        assert event_id is not None
        handler = handlers.get(kind)
        if handler is None:
            report.unhandled[kind] += 1
            continue
        params = {str(k): str(v) for k, v in payload.items()}
        try:
            done = run(engine, event_id, kind, params, handler, now=now)
        except DBAPIError as exc:  # the claim itself failed (a lock, the connection): it waits
            report.failed.append((event_id, kind, f"{type(exc).__name__}: {exc.orig}"[:MAX_ERROR]))
            continue
        if done.outcome is Outcome.PROCESSED:
            report.processed += 1
        elif done.outcome is Outcome.QUARANTINED:
            report.failed.append((event_id, kind, done.error or ""))
    return report


# --- the route's arguments ---------------------------------------------------------------
# A callback's URL can carry what its parameters do not (`/voice/reminder/{delivery_id}/amd`,
# `/voice/ivr/recorded?vendor=…`). They are stored with the parameters, under names that
# start with `_` (Twilio's own parameter names are capitalized), so a re-run has them too.
ROUTE = "_"


def with_route(params: Mapping[str, str], **route: object) -> dict[str, str]:
    """The parameters to store: Twilio's, and the route's arguments that are set."""
    return {**params, **{ROUTE + name: str(v) for name, v in route.items() if v is not None}}


def route_arg(params: Mapping[str, str], name: str) -> str | None:
    return params.get(ROUTE + name) or None


def route_id(params: Mapping[str, str], name: str) -> int | None:
    value = route_arg(params, name)
    return int(value) if value is not None and value.isdigit() else None


def twilio_params(params: Mapping[str, str]) -> dict[str, str]:
    """The parameters Twilio sent, without the route's."""
    return {k: v for k, v in params.items() if not k.startswith(ROUTE)}
