"""The inbound-call log, written in batches off the request path.

The IVR answer must not wait on a write transaction per call (SQLite serializes writers), so
each call's raw parameters go to an in-process queue that a writer thread stores every
`interval` seconds (or `batch` rows) in one transaction. `close()` flushes what is left; a
crash can lose at most one interval of log rows, never a caller's choice (choices are stored
synchronously by their own endpoints)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from telephony.models import InboundMessage

Row = dict[str, Any]  # InboundMessage columns

log = logging.getLogger(__name__)


class CallLog:
    def __init__(self, engine: Engine, *, interval: float = 0.2, batch: int = 500) -> None:
        self.engine = engine
        self.interval = interval
        self.batch = batch
        self._queue: queue.Queue[Row | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="call-log", daemon=True)
        self._thread.start()

    def add(self, row: Row) -> None:
        self._queue.put(row)

    def _run(self) -> None:
        done = False
        while not done:
            time.sleep(self.interval)  # collect a batch: one transaction per interval
            rows: list[Row] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                    break
                rows.append(item)
                if len(rows) >= self.batch:
                    self._write(rows)
                    rows = []
            if rows:
                self._write(rows)

    def _write(self, rows: list[Row]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(InboundMessage), rows)
        except Exception:
            log.exception("could not store %d inbound call log rows", len(rows))

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)


class DirectLog:
    """Synchronous variant (CLI, tests that read the log right after the call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, row: Row) -> None:
        with Session(self.engine) as session:
            session.add(InboundMessage(**row))
            session.commit()

    def close(self, timeout: float = 10.0) -> None:
        return None
