"""Live updates: a small in-process hub that fans events out to each tab's SSE stream.

`publish(kind, data)` may be called from any thread. With PostgreSQL, the hub is fed by
`LISTEN/NOTIFY` (`comms.app.workspace.pgbridge`), so every web process sees every event; the
publisher then goes through the database instead of the local fan-out."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 100  # a tab that falls this far behind misses events (its polling catches up)


@dataclass(frozen=True)
class Event:
    kind: str  # a word: "dashboard", "staff", …
    data: dict[str, Any]

    def encode(self) -> str:
        return json.dumps({"kind": self.kind, "data": self.data}, separators=(",", ":"))

    @staticmethod
    def decode(payload: str) -> Event | None:
        try:
            value = json.loads(payload)
            return Event(kind=str(value["kind"]), data=dict(value.get("data") or {}))
        except (ValueError, KeyError, TypeError):
            return None


class Subscription:
    def __init__(self, hub: EventHub, loop: asyncio.AbstractEventLoop) -> None:
        self.hub = hub
        self.loop = loop
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)

    def offer(self, event: Event | None) -> None:
        """Called on the subscriber's loop."""
        if self.queue.full():
            return
        self.queue.put_nowait(event)

    def close(self) -> None:
        self.hub.unsubscribe(self)


class EventHub:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self.remote: Callable[[Event], None] | None = None  # set by the PostgreSQL bridge
        # called with every event this process delivers (from any process, through the
        # bridge): state kept per process, such as who has a certificate open
        self.observers: list[Callable[[Event], None]] = []

    def subscribe(self) -> Subscription:
        sub = Subscription(self, asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, kind: str, data: dict[str, Any] | None = None) -> None:
        event = Event(kind=kind, data=data or {})
        if self.remote is not None:
            try:
                self.remote(event)  # NOTIFY; every process (this one too) hears it back
                return
            except Exception as exc:  # the database is away: at least this process's tabs
                log.warning("event %s not sent through the database: %s", kind, exc)
        self.deliver(event)

    def deliver(self, event: Event | None) -> None:
        """Hand an event (None: the end of every stream) to every subscriber, thread-safely."""
        if event is not None:
            for observe in list(self.observers):
                try:
                    observe(event)
                except Exception:
                    log.exception("event observer failed on %s", event.kind)
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:  # its loop is closed
                self.unsubscribe(sub)

    def close(self) -> None:
        self.deliver(None)
