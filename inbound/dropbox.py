"""A drop folder: `.eml` files, or a maildir (`new/` and `cur/`), read into the store.

Each file's bytes are stored raw first (deduplicated by sha256), then the file is moved into
the folder's `done/` subfolder (its stored row's id in the name), and its processing job is
enqueued. A file that cannot be read stays where it is and is logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.settings import Settings
from comms.timeutil import utcnow
from inbound.store import store_raw

log = logging.getLogger(__name__)

DONE = "done"
POLL_SECONDS = 5.0


def candidates(folder: Path) -> Iterator[Path]:
    """The message files waiting in ``folder`` (oldest first)."""
    found: list[Path] = []
    for sub in (folder, folder / "new", folder / "cur"):
        if not sub.is_dir():
            continue
        for path in sub.iterdir():
            if not path.is_file() or path.name.startswith("."):
                continue
            if sub == folder and path.suffix.lower() != ".eml":
                continue
            found.append(path)
    found.sort(key=lambda p: (p.stat().st_mtime, p.name))
    yield from found


def scan(
    folder: Path,
    engine: Engine,
    *,
    now: datetime,
    enqueue: Callable[[int], None],
) -> list[int]:
    """Store every waiting file once; return the ids of the rows created."""
    done = folder / DONE
    done.mkdir(parents=True, exist_ok=True)
    created_ids: list[int] = []
    for path in candidates(folder):
        try:
            raw = path.read_bytes()  # all of it: an oversized message is quarantined, not cut
        except OSError as exc:
            log.error("drop folder: cannot read %s: %s", path, exc)
            continue
        with Session(engine, expire_on_commit=False) as session:
            row, created = store_raw(session, raw, source="dropbox", mailbox=str(folder), now=now)
        target = done / f"{row.id:08d}-{path.name}"
        try:
            path.replace(target)
        except OSError as exc:
            log.error("drop folder: cannot move %s to %s: %s", path, done, exc)
        if created and row.id is not None:
            created_ids.append(row.id)
            enqueue(row.id)
    return created_ids


def run(
    *,
    settings: Settings,
    stop: threading.Event,
    engine: Engine,
    enqueue: Callable[[int], None],
    clock: Callable[[], datetime] = utcnow,
    interval: float = POLL_SECONDS,
) -> None:
    """Poll the drop folder until ``stop`` is set."""
    folder = settings.dropbox_dir
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    while not stop.is_set():
        try:
            scan(folder, engine, now=clock(), enqueue=enqueue)
        except Exception:  # keep polling; the next pass retries
            log.exception("drop folder pass failed")
        stop.wait(interval)
