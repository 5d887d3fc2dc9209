"""Each Twilio callback is processed once.

Its raw parameters are stored and committed first, unique on (sid, status): a repeat finds
the row and is not processed again, and a crash while processing leaves the row behind
(`processed_at` empty) instead of losing it. Processing then runs in a transaction of its
own that first claims the row (sets `processed_at` where it is still empty), so a re-run and
the live request never both apply it. A callback whose processing raised keeps its error and
its reason code (the quarantine, `comms.failures`); `reprocess` runs the unprocessed rows
again with the handler of their kind: the transient ones, and the permanent ones on request."""

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

from comms.failures import Failure, failure_of
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
    failure: Failure | None = None  # its reason code, and whether retrying can help


@dataclass
class Rerun:
    """What `reprocess` did: ids of rows it could not handle or that failed again."""

    processed: int = 0
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # id, kind, error
    unhandled: Counter[str] = field(default_factory=Counter)  # kind → rows with no handler
    # permanent failures left alone (no `force`): id, kind, code, error
    held: list[tuple[int, str, str, str]] = field(default_factory=list)


def store(
    engine: Engine,
    kind: str,
    sid: str,
    status: str,
    params: Mapping[str, str],
    *,
    now: datetime,
    error: str | None = None,
    failure: Failure | None = None,
) -> int | None:
    """Commit the raw callback, unprocessed (`error` and its `failure`: stored straight into
    quarantine). Its row id, or None when (sid, status) was stored before."""
    with Session(engine, expire_on_commit=False) as session:
        event = WebhookEvent(
            kind=kind,
            sid=sid,
            status=status,
            payload=dict(params),
            received_at=now,
            error=error,
            error_code=failure.code if failure is not None else None,
            error_permanent=failure is not None and failure.permanent,
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
            .values(processed_at=now, error=None, error_code=None, error_permanent=False)
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
            failure = failure_of(exc)
            trace = "".join(traceback.format_exception(exc))
    log.error("%s callback %s quarantined (%s): %s", kind, event_id, failure.label, redact(trace))
    with Session(engine) as session:  # unless a re-run has processed it meanwhile
        session.execute(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == event_id, col(WebhookEvent.processed_at).is_(None))
            .values(error=error, error_code=failure.code, error_permanent=failure.permanent)
        )
        session.commit()
    return Processed(Outcome.QUARANTINED, event_id=event_id, error=error, failure=failure)


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


def reprocess(
    engine: Engine,
    handlers: Mapping[str, Handler[object]],
    *,
    now: datetime,
    force: bool = False,
) -> Rerun:
    """Run the stored, unprocessed callbacks again: the quarantined ones and any left behind
    by a crash. One whose failure is permanent is left in `held` unless `force` (its cause
    fixed: a setting, a template). A kind without a handler is counted in `unhandled`."""
    with Session(engine) as session:
        pending = session.exec(
            select(WebhookEvent)
            .where(col(WebhookEvent.processed_at).is_(None))
            .order_by(col(WebhookEvent.id))
        ).all()
    report = Rerun()
    for event in pending:
        event_id, kind = event.id, event.kind
        assert event_id is not None
        if event.error_permanent and not force:
            report.held.append((event_id, kind, event.error_code or "", event.error or ""))
            continue
        handler = handlers.get(kind)
        if handler is None:
            report.unhandled[kind] += 1
            continue
        params = {str(k): str(v) for k, v in event.payload.items()}
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
