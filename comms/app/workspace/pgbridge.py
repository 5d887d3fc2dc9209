"""Events between web processes on PostgreSQL: NOTIFY to publish, a LISTEN thread per
process that feeds its hub. SQLite has one process per database file in practice, and the
in-process hub alone."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import text
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

    def start(self) -> None:
        self.hub.remote = self.notify
        self._thread.start()

    def notify(self, event: Event) -> None:
        payload = event.encode()
        if len(payload.encode()) > MAX_PAYLOAD:
            payload = Event(kind=event.kind, data={}).encode()
        with self.engine.connect() as conn:
            conn.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": CHANNEL, "payload": payload},
            )
            conn.commit()

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
