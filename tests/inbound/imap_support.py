"""Helpers for the IMAP listener tests: settings for a Dovecot account, messages, a worker
thread that runs the real pipeline, and the database facts the tests count."""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.models import CaseEvent
from comms.settings import Settings, load_settings
from inbound.models import ImapCheckpoint, InboundEmail
from inbound.pipeline import process_message
from tests.inbound.conftest import WHEN, pdf, reply
from tests.support.dovecot import PASSWORD, Dovecot

_START = datetime.now(UTC)


def clock() -> datetime:
    """The tests' "now": the sample certificate's world (June 2020), ticking in real time."""
    return WHEN + (datetime.now(UTC) - _START)


def imap_settings(server: Dovecot, user: str, *, port: int | None = None, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "imap_host": server.host,
        "imap_port": port or server.port,
        "imap_ssl": False,
        "imap_username": user,
        "imap_password": PASSWORD,
        "imap_idle_seconds": 2.0,
        "imap_poll_seconds": 0.1,
        "imap_timeout": 3.0,
    }
    values.update(extra)
    return load_settings(**values)


def crlf(raw: bytes) -> bytes:
    """IMAP serves CRLF lines; append CRLF so the stored bytes equal the appended ones."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def agent_reply(n: int, *, certificate: bool = False, **kwargs: Any) -> bytes:
    """The n-th reply from the sample's agent (a unique Message-ID each)."""
    kwargs.setdefault("message_id", f"<reply-{n}@yahoo.example>")
    kwargs.setdefault("text", f"Reply number {n}: the renewal is in progress.\n\nTiffany")
    if certificate:
        kwargs.setdefault("attachments", [pdf()])
    return crlf(reply(**kwargs))


def stranger(n: int) -> bytes:
    """A message that matches no vendor: it ends on the review list (moved to Processed)."""
    return crlf(
        reply(
            sender=f"someone{n}@unknown.example",
            subject="Hello",
            text="Who are you?",
            message_id=f"<stranger-{n}@unknown.example>",
        )
    )


def process(engine: Engine, settings: Settings, inbound_id: int) -> None:
    process_message(
        inbound_id, now=clock(), engine=engine, settings=settings, enqueue=lambda *a, **k: None
    )


class PipelineWorker:
    """A worker thread: ``enqueue`` puts a stored row's id on its queue, it runs the real
    pipeline on it. ``seen`` counts every id it was handed."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.seen: list[int] = []
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> PipelineWorker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def enqueue(self, inbound_id: int) -> None:
        self.seen.append(inbound_id)
        self._queue.put(inbound_id)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            process(self.engine, self.settings, item)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll until ``condition`` holds (a generous deadline, not a speed assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rows(engine: Engine) -> list[InboundEmail]:
    with Session(engine) as session:
        return list(session.exec(select(InboundEmail).order_by(col(InboundEmail.id))).all())


def checkpoint(engine: Engine) -> ImapCheckpoint | None:
    with Session(engine) as session:
        return session.exec(select(ImapCheckpoint)).first()


def reply_events(engine: Engine) -> dict[int, int]:
    """inbound id -> how many times its reply reached a case timeline (processing runs)."""
    counts: dict[int, int] = {}
    with Session(engine) as session:
        for event in session.exec(select(CaseEvent).where(CaseEvent.kind == "reply_received")):
            inbound_id = int(event.data.get("inbound_id") or 0)
            counts[inbound_id] = counts.get(inbound_id, 0) + 1
    return counts
