"""The inbound-call log, written in batches off the request path.

The IVR answer must not wait on a write transaction per call (SQLite serializes writers), so
each call's raw parameters go to an in-process queue that a writer thread stores every
`interval` seconds (or `batch` rows) in one transaction. No row is dropped:

- a batch the database does not take is kept and written again at the next flush;
- a row it refuses on its own (a vendor deleted meanwhile, a bad value) is quarantined as a
  `voice_inbound` webhook event, which `comms webhooks-rerun` stores;
- rows still waiting when there are more than `max_pending`, or at `close()`, are written
  to a file under `<COMMS_DATA_DIR>/quarantine/` (the database is down), which
  `comms webhooks-rerun` imports.

Logs name counts and the database's reason (redacted), never a row or a number."""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from comms.failures import Failure, failure_of
from comms.models import Agent, Vendor
from comms.redact import redact
from comms.settings import get_settings
from comms.timeutil import utcnow
from telephony import events
from telephony.models import InboundMessage

Row = dict[str, Any]  # InboundMessage columns

log = logging.getLogger(__name__)

KIND = "voice_inbound"  # the webhook-event kind of a quarantined call-log row
SPILL_GLOB = "call-log-*.jsonl"
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)  # try again later
SPILLED = Failure("database_unavailable")  # a row written to a file: the database was down
SPILLED_ERROR = "spilled: the database was unavailable"
_LOG_FIELDS = ("from_number", "to_number", "action", "received_at", "vendor_id", "agent_id")
_spill_names = itertools.count()


class CallLog:
    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 0.2,
        batch: int = 500,
        max_pending: int = 10_000,
        spill_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.batch = batch
        self.max_pending = max_pending
        self.spill_dir = spill_dir
        self.pending: list[Row] = []  # not stored yet: written again first at the next flush
        self._abandoned = False  # `close` gave up on the writer and wrote what waits itself
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
            try:
                self.flush(rows)
            except Exception as exc:  # the writer thread lives on; the rows wait in `pending`
                log.error("call log: flush failed: %s", _reason(exc))
        if self.pending and not self._abandoned and spill(self.spill_dir, self.pending):
            self.pending = []

    def flush(self, rows: list[Row]) -> None:
        """Store what waits and `rows`; what the database does not take waits again."""
        waiting = self.pending = self.pending + rows  # `close` finds them there meanwhile
        kept: list[Row] = []
        for start in range(0, len(waiting), self.batch):
            kept = store_rows(self.engine, waiting[start : start + self.batch])
            if kept:  # the database is unavailable: the rest waits too
                kept += waiting[start + self.batch :]
                break
            self.pending = waiting[start + self.batch :]
        if len(kept) > self.max_pending:  # memory is bounded: the oldest to a file
            extra = len(kept) - self.max_pending
            if spill(self.spill_dir, kept[:extra]):
                kept = kept[extra:]
        self.pending = kept

    def close(self, timeout: float = 10.0) -> None:
        """Stop the writer after a last flush. When it is still stuck on the database after
        `timeout` (a write lock held elsewhere), what waits is written to a file from here:
        the process may exit next, and the writer is a daemon thread."""
        self._queue.put(None)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            return
        self._abandoned = True
        rows = list(self.pending)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                rows.append(item)
        self._queue.put(None)  # the writer, once let go, still stops
        if rows and spill(self.spill_dir, rows):
            self.pending = []


class DirectLog:
    """Synchronous variant (CLI, tests that read the log right after the call)."""

    def __init__(self, engine: Engine, *, spill_dir: Path | None = None) -> None:
        self.engine = engine
        self.spill_dir = spill_dir

    def add(self, row: Row) -> None:
        kept = store_rows(self.engine, [row])
        if kept and not spill(self.spill_dir, kept):
            raise RuntimeError("call log row neither stored nor written to a file")

    def close(self, timeout: float = 10.0) -> None:
        return None


def _reason(exc: Exception) -> str:
    """The database's reason without the statement and its parameters (numbers)."""
    return redact(f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}")[:500]


def store_rows(engine: Engine, rows: list[Row]) -> list[Row]:
    """Store the rows (one transaction; one by one when the batch is refused, a row the
    database refuses on its own quarantined). Returns the rows to try again later."""
    if not rows:
        return []
    try:
        with engine.begin() as conn:
            conn.execute(insert(InboundMessage), rows)
        return []
    except Exception as exc:
        log.warning("call log: %d row(s) not stored as a batch: %s", len(rows), _reason(exc))
        if isinstance(exc, UNAVAILABLE):
            return rows
    for index, row in enumerate(rows):
        try:
            with engine.begin() as conn:
                conn.execute(insert(InboundMessage), [row])
        except UNAVAILABLE:
            return rows[index:]
        except Exception as exc:  # this row will never go in as it is
            if not quarantine(engine, row, _reason(exc), failure_of(exc)):
                return rows[index:]
    return []


def quarantine(engine: Engine, row: Row, error: str, failure: Failure) -> bool:
    """Store a refused row as a `voice_inbound` webhook event. False: the database is down."""
    try:
        sid = str(row.get("sid") or "")
        _store_refused(engine, sid, call_log_params(row), row["received_at"], error, failure)
    except Exception as exc:
        log.warning("call log: a refused row not quarantined: %s", _reason(exc))
        return False
    log.warning("call log: a row quarantined (comms webhooks-rerun): %s", error)
    return True


def _store_refused(
    engine: Engine,
    sid: str,
    params: dict[str, str],
    received: datetime,
    error: str,
    failure: Failure,
) -> None:
    """A call-log row (as `call_log_params`) stored as a quarantined `voice_inbound` event,
    keyed by its call and receipt time, so the same row is never stored twice."""
    events.store(
        engine,
        KIND,
        sid,
        f"call_log:{received.isoformat()}",
        params,
        now=received,
        error=error,
        failure=failure,
    )


def call_log_params(row: Row) -> dict[str, str]:
    """A call-log row as callback parameters: the call's, and the row's fields as route."""
    payload = {str(k): str(v) for k, v in dict(row.get("payload") or {}).items()}
    return events.with_route(payload, **{name: row.get(name) for name in _LOG_FIELDS})


def call_log_row(session: Session, params: dict[str, str], now: datetime) -> Row:
    """The row back from `call_log_params`; a vendor or an agent deleted since left out."""
    vendor_id = events.route_id(params, "vendor_id")
    agent_id = events.route_id(params, "agent_id")
    if vendor_id is not None and session.get(Vendor, vendor_id) is None:
        vendor_id = None
    if agent_id is not None and session.get(Agent, agent_id) is None:
        agent_id = None
    received = events.route_arg(params, "received_at")
    return {
        "kind": "call",
        "sid": params.get("CallSid", ""),
        "from_number": events.route_arg(params, "from_number") or params.get("From", ""),
        "to_number": events.route_arg(params, "to_number") or params.get("To", ""),
        "body": None,
        "vendor_id": vendor_id,
        "agent_id": agent_id,
        "action": events.route_arg(params, "action") or "",
        "payload": events.twilio_params(params),
        "received_at": datetime.fromisoformat(received) if received else now,
    }


# --- rows the database would not take, in files until `comms webhooks-rerun` ------------------
def default_spill_dir() -> Path:
    return Path(get_settings().data_dir) / "quarantine"


def spill(directory: Path | None, rows: list[Row]) -> bool:
    """Write rows to a new file (complete when it appears: written aside, then renamed).
    False when it could not be written (the caller keeps the rows)."""
    try:
        folder = directory or default_spill_dir()
        folder.mkdir(parents=True, exist_ok=True)
        name = f"call-log-{os.getpid()}-{time.time_ns()}-{next(_spill_names)}.jsonl"
        partial = folder / (name + ".partial")
        partial.touch(mode=0o600)  # phone numbers: readable by the service only
        with partial.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(call_log_params(row)) + "\n")
            out.flush()
            os.fsync(out.fileno())
        partial.rename(folder / name)
    except Exception as exc:
        log.error("call log: %d row(s) kept in memory, not written: %s", len(rows), _reason(exc))
        return False
    log.error(  # the folder, not the file: digits in a file name read as a phone number
        "call log: %d row(s) the database did not take written to a file in %s; "
        "run `comms webhooks-rerun` to store them",
        len(rows),
        folder,
    )
    return True


def import_spilled(engine: Engine, directory: Path | None = None) -> int:
    """Quarantine the rows of the spill files as webhook events (a row imported before is
    not imported twice) and remove the files. How many rows were read. ValueError names a
    file that cannot be read (it is left in place)."""
    folder = directory or default_spill_dir()
    count = 0
    for path in sorted(folder.glob(SPILL_GLOB)):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                params = {str(k): str(v) for k, v in dict(json.loads(line)).items()}
            except (ValueError, TypeError) as exc:  # the file is kept: nothing is lost
                raise ValueError(f"{path}:{number}: not a call-log row ({exc})") from None
            received = events.route_arg(params, "received_at")
            when = datetime.fromisoformat(received) if received else utcnow()
            sid = params.get("CallSid", "")
            _store_refused(engine, sid, params, when, SPILLED_ERROR, SPILLED)
            count += 1
        path.unlink()
    return count
