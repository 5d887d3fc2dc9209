"""A drop folder: `.eml` files, or a maildir (`new/` and `cur/`), read into the store.

Each file's bytes are stored raw first (deduplicated by sha256), then the file is moved into
the folder's `done/` subfolder (its stored row's id in the name), and its processing job is
enqueued. A file that cannot be read stays where it is and is logged.

A file still being copied in is left for a later pass: one changed within the last
``SETTLE_SECONDS`` (by the host's wall clock, passed in as ``wall``), or whose size or
modification time moves while it is read, is skipped and taken once it has settled.
"""

from __future__ import annotations

import logging
import os
import threading
import time
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
SETTLE_SECONDS = 5.0  # a file changed more recently than this may still be being written


def candidates(folder: Path) -> Iterator[Path]:
    """The message files waiting in ``folder`` (oldest first)."""
    found: list[tuple[float, str, Path]] = []
    for sub in (folder, folder / "new", folder / "cur"):
        if not sub.is_dir():
            continue
        for path in sub.iterdir():
            if not path.is_file() or path.name.startswith("."):
                continue
            if sub == folder and path.suffix.lower() != ".eml":
                continue
            try:
                found.append((path.stat().st_mtime, path.name, path))
            except OSError:  # gone since it was listed (taken by another process)
                continue
    found.sort(key=lambda item: (item[0], item[1]))
    yield from (path for _, _, path in found)


def _changing(stat: os.stat_result, wall_s: float, settle: float) -> bool:
    """Whether the file was changed within ``settle`` seconds of ``wall_s``.

    Both the modification time and the status-change time count (a copy that preserves the
    source's old mtime still moves the ctime). A stamp further in the future than ``settle``
    is a preserved or skewed date, not a write in progress, and is ignored so that such a
    file is not held back forever; the size check while reading still guards it.
    """
    for stamp in (stat.st_mtime, stat.st_ctime):
        if wall_s - settle < stamp <= wall_s + settle:
            return True
    return False


def _read_settled(path: Path, wall_s: float, settle: float) -> bytes | None:
    """All of ``path``'s bytes, or None when it is still being written (raises OSError)."""
    before = path.stat()
    if _changing(before, wall_s, settle):
        log.info("drop folder: %s changed in the last %.0fs; left for a later pass", path, settle)
        return None
    raw = path.read_bytes()  # all of it: an oversized message is quarantined, not cut
    after = path.stat()
    moved = (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns)
    if moved or len(raw) != after.st_size:
        log.info("drop folder: %s changed while being read; left for a later pass", path)
        return None
    return raw


def scan(
    folder: Path,
    engine: Engine,
    *,
    now: datetime,
    enqueue: Callable[[int], None],
    wall: Callable[[], float] = time.time,
    settle: float = SETTLE_SECONDS,
) -> list[int]:
    """Store every settled waiting file once; return the ids of the rows created.

    ``now`` is the time recorded on the stored rows; ``wall`` is the host's clock in epoch
    seconds, compared with the files' timestamps to leave files still being written.
    """
    done = folder / DONE
    done.mkdir(parents=True, exist_ok=True)
    created_ids: list[int] = []
    wall_s = wall()
    for path in candidates(folder):
        try:
            raw = _read_settled(path, wall_s, settle)
        except OSError as exc:
            log.error("drop folder: cannot read %s: %s", path, exc)
            continue
        if raw is None:
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
    wall: Callable[[], float] = time.time,
    interval: float = POLL_SECONDS,
    settle: float = SETTLE_SECONDS,
) -> None:
    """Poll the drop folder until ``stop`` is set."""
    folder = settings.dropbox_dir
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    while not stop.is_set():
        try:
            scan(folder, engine, now=clock(), enqueue=enqueue, wall=wall, settle=settle)
        except Exception:  # keep polling; the next pass retries
            log.exception("drop folder pass failed")
        stop.wait(interval)
