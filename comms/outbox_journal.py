"""The server's replies, written to a local file before the database records them.

A worker appends one line per send the server accepted (`delivery id`, the reply, the
Message-ID) to a journal of its own under `COMMS_DATA_DIR/journal/`, before the outcome
reaches the database. The file is held with an exclusive `flock` while its writer lives. If
the writer dies (kill -9, a crash, a database outage that outlasted its patience) before the
outcomes were recorded, whoever finds the file unlocked — the sweep of any process sharing
the data folder, a starting worker — marks those rows `sent` (`recover_journals`), so a row
whose reply was kept is not sent again. Writes are plain `write(2)` calls on an `O_APPEND`
descriptor: they survive the death of the process (not of the machine).

Only accepted sends are kept: a refusal or a failure is simply tried again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from comms.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)


class Journal:
    """One writer's journal file (created on the first line, removed by `close`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / f"outcomes-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self.fd: int | None = None
        self.lines = 0

    def add(self, delivery_id: int, reply: str | None, message_id: str | None) -> None:
        if self.fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        line = json.dumps({"id": delivery_id, "reply": reply, "message_id": message_id})
        os.write(self.fd, line.encode() + b"\n")
        self.lines += 1

    def clear(self) -> None:
        """Every line is recorded in the database: start over."""
        if self.fd is not None and self.lines:
            os.ftruncate(self.fd, 0)
            self.lines = 0

    def close(self, *, keep: bool = False) -> None:
        """Remove the file (`keep`: leave it, unlocked, for `recover_journals`)."""
        if self.fd is None:
            return
        if not keep or not self.lines:
            with contextlib.suppress(OSError):
                self.path.unlink()
        os.close(self.fd)  # releases the lock
        self.fd = None


def _entries(data: bytes) -> Iterable[dict[str, object]]:
    for line in data.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # a line cut short by the crash
            continue
        if isinstance(entry, dict) and isinstance(entry.get("id"), int):
            yield entry


def recover_journals(engine: Engine, folder: Path, *, now: datetime) -> int:
    """Mark `sent` the rows of every journal no living writer holds; remove those journals.
    Only rows still `queued` or `sending` change. Returns how many rows changed."""
    if not folder.is_dir():
        return 0
    changed = 0
    for path in sorted(folder.glob("outcomes-*.jsonl")):
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is alive
            data = path.read_bytes()
            if not data:  # nothing to recover (or a writer that has not locked it yet)
                if time.time() - path.stat().st_mtime > 60:
                    path.unlink()
                continue
            entries = list(_entries(data))
            changed += _mark_sent(engine, entries, now=now)
            path.unlink()
        finally:
            os.close(fd)
    if changed:
        log.warning("%d deliveries marked sent from the journal of a worker that died", changed)
    return changed


def _mark_sent(engine: Engine, entries: list[dict[str, object]], *, now: datetime) -> int:
    changed = 0
    with Session(engine) as session:
        for entry in entries:
            values: dict[str, object] = {
                "status": DeliveryStatus.SENT.value,
                "provider_message_id": entry.get("reply"),
                "lease_until": None,
                "next_attempt_at": None,
                "error": None,
                "error_code": None,
                "sent_at": now,
                "updated_at": now,
            }
            if entry.get("message_id"):
                values["message_id"] = entry["message_id"]
            result = session.execute(
                update(Delivery)
                .where(
                    col(Delivery.id) == entry["id"],
                    col(Delivery.status).in_(
                        [DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value]
                    ),
                )
                .values(values)
                .execution_options(synchronize_session=False)
            )
            changed += getattr(result, "rowcount", 0) or 0
        session.commit()
    return changed
