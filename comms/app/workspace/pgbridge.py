"""Events between web processes on PostgreSQL: NOTIFY to publish, a LISTEN thread per
process that feeds its hub. SQLite has one process per database file in practice, and the
in-process hub alone.

Publishing does not wait for the database: `notify` queues the event, and a sender thread
sends what is queued on its own autocommit connection (no pool checkout, no transaction:
one round trip per event, off the request). When the database cannot take them, the events
go to this process's tabs at least."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from sqlalchemy.engine import Engine

from comms.app.workspace.events import Event, EventHub

log = logging.getLogger(__name__)

CHANNEL = "comms_workspace"
MAX_PAYLOAD = 7900  # PostgreSQL's limit is 8000 bytes


class PgBridge:
    def __init__(self, engine: Engine, hub: EventHub) -> None:
        self.engine = engine
        self.hub = hub
        self.stop = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workspace-listen", daemon=True)
        self._outbox: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send, name="workspace-notify", daemon=True)

    def start(self) -> None:
        self.hub.remote = self.notify
        self._thread.start()
        self._sender.start()

    def notify(self, event: Event) -> None:
        """Queue the event for the sender thread (returns at once)."""
        self._outbox.put(event)

    @staticmethod
    def payload(event: Event) -> str:
        payload = event.encode()
        if len(payload.encode()) > MAX_PAYLOAD:
            payload = Event(kind=event.kind, data={}).encode()
        return payload

    def _send(self) -> None:
        import psycopg

        conn: Any = None
        while True:
            batch = [self._outbox.get()]
            while not self._outbox.empty() and batch[-1] is not None:
                batch.append(self._outbox.get_nowait())
            events = [e for e in batch if e is not None]
            try:
                if events and (conn is None or conn.closed):
                    conn = psycopg.connect(self._conninfo(), autocommit=True)
                for event in events:
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.payload(event)))
            except Exception as exc:  # the database is away: at least this process's tabs
                log.warning("%d event(s) not sent through the database: %s", len(events), exc)
                if conn is not None:
                    conn.close()
                conn = None
                for event in events:
                    self.hub.deliver(event)
            if batch[-1] is None:
                break
        if conn is not None:
            conn.close()

    def _conninfo(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _run(self) -> None:
        # psycopg is the PostgreSQL extra: loaded only when the database is PostgreSQL
        import psycopg

        delay = 0.5
        while not self.stop.is_set():
            try:
                with psycopg.connect(self._conninfo(), autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.5
                    while not self.stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            event = Event.decode(note.payload)
                            if event is not None:
                                self.hub.deliver(event)
            except Exception as exc:
                self.listening.clear()
                log.warning("workspace events: LISTEN failed (%s); retrying", exc)
                self.stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def close(self, timeout: float = 2.0) -> None:
        self.hub.remote = None
        if self._sender.is_alive():
            self._outbox.put(None)  # what is queued goes first
            self._sender.join(timeout)
        self.stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def bridge_for(engine: Engine, hub: EventHub) -> Any:
    """A started bridge when the database is PostgreSQL, else None."""
    if engine.dialect.name != "postgresql":
        return None
    bridge = PgBridge(engine, hub)
    bridge.start()
    return bridge
