"""Each Twilio callback is processed once: its raw parameters are stored first, unique on
(sid, status); a repeat finds the row and is not processed again. A callback whose processing
raised is kept with its error (the quarantine) and can be re-run with `reprocess`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from telephony.models import WebhookEvent

log = logging.getLogger(__name__)

Handler = Callable[[Session, dict[str, str], datetime], None]


def process_once(
    engine: Engine,
    kind: str,
    sid: str,
    status: str,
    params: dict[str, str],
    handler: Handler,
    *,
    now: datetime,
) -> bool:
    """Store and process a callback. False when (sid, status) was seen before."""
    with Session(engine, expire_on_commit=False) as session:
        event = WebhookEvent(kind=kind, sid=sid, status=status, payload=params, received_at=now)
        session.add(event)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            return False
        try:
            handler(session, params, now)
            event.processed_at = now
            session.add(event)
            session.commit()
            return True
        except Exception as exc:  # quarantined: stored with its error, re-runnable
            session.rollback()
            error = f"{type(exc).__name__}: {exc}"
            log.exception("%s callback %s/%s failed", kind, sid, status)
    with Session(engine) as session:
        session.add(
            WebhookEvent(
                kind=kind, sid=sid, status=status, payload=params, received_at=now, error=error
            )
        )
        session.commit()
    return True


def reprocess(engine: Engine, handlers: dict[str, Handler], *, now: datetime) -> int:
    """Re-run quarantined callbacks (stored, not processed). Returns how many now succeeded."""
    done = 0
    with Session(engine, expire_on_commit=False) as session:
        rows = session.exec(
            select(WebhookEvent).where(col(WebhookEvent.processed_at).is_(None))
        ).all()
        for row in rows:
            handler = handlers.get(row.kind)
            if handler is None:
                continue
            try:
                with session.begin_nested():
                    handler(session, dict(row.payload), now)
                    row.processed_at, row.error = now, None
                    session.add(row)
                done += 1
            except Exception as exc:
                row.error = f"{type(exc).__name__}: {exc}"
                session.add(row)
        session.commit()
    return done
