"""The drop folder leaves a file that is still being copied in, and takes it whole later."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from inbound import dropbox
from inbound.models import InboundEmail
from tests.inbound.conftest import WHEN, reply

SETTLE = dropbox.SETTLE_SECONDS


def _rows(engine: Engine) -> list[InboundEmail]:
    with Session(engine) as s:
        return list(s.exec(select(InboundEmail)).all())


def test_a_file_being_copied_is_left_until_it_settles(sqlite_db: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    whole = reply(message_id="<copy@x>")
    target = folder / "incoming.eml"
    target.write_bytes(whole[: len(whole) // 2])  # the copy is half way
    queued: list[int] = []
    t0 = time.time()

    assert dropbox.scan(folder, sqlite_db, now=WHEN, enqueue=queued.append, wall=lambda: t0) == []
    assert target.exists() and not list((folder / "done").iterdir())
    assert _rows(sqlite_db) == [] and queued == []

    with target.open("ab") as fh:  # the copy finishes
        fh.write(whole[len(whole) // 2 :])
    done_at = time.time()
    # still inside the settle window after the last write: left again
    assert (
        dropbox.scan(folder, sqlite_db, now=WHEN, enqueue=queued.append, wall=lambda: done_at) == []
    )

    later = done_at + SETTLE + 1
    ids = dropbox.scan(folder, sqlite_db, now=WHEN, enqueue=queued.append, wall=lambda: later)
    assert len(ids) == 1 and queued == ids
    rows = _rows(sqlite_db)
    assert len(rows) == 1 and rows[0].raw == whole  # stored whole, never truncated
    assert not target.exists()
    assert [p.name for p in (folder / "done").iterdir()] == [f"{ids[0]:08d}-incoming.eml"]


def test_an_old_mtime_does_not_hide_a_fresh_copy(sqlite_db: Engine, tmp_path: Path) -> None:
    """`cp -p` keeps the source's old mtime; the status-change time still shows the write."""
    folder = tmp_path / "drop"
    folder.mkdir()
    target = folder / "kept-date.eml"
    target.write_bytes(reply(message_id="<p@x>")[:100])
    os.utime(target, (1_500_000_000, 1_500_000_000))
    now_s = time.time()
    assert (
        dropbox.scan(folder, sqlite_db, now=WHEN, enqueue=lambda i: None, wall=lambda: now_s) == []
    )
    assert target.exists() and _rows(sqlite_db) == []


def test_a_file_growing_while_read_is_left(
    sqlite_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old timestamps (a writer paused longer than the window), but the size moves mid-read."""
    folder = tmp_path / "drop"
    folder.mkdir()
    whole = reply(message_id="<grow@x>")
    target = folder / "slow.eml"
    target.write_bytes(whole[:200])
    real_read = Path.read_bytes

    def read_then_grow(self: Path) -> bytes:
        data = real_read(self)
        if self == target:
            with self.open("ab") as fh:
                fh.write(whole[200:])
        return data

    monkeypatch.setattr(Path, "read_bytes", read_then_grow)
    later = time.time() + SETTLE + 1
    assert (
        dropbox.scan(folder, sqlite_db, now=WHEN, enqueue=lambda i: None, wall=lambda: later) == []
    )
    assert target.exists() and _rows(sqlite_db) == []

    monkeypatch.setattr(Path, "read_bytes", real_read)
    ids = dropbox.scan(folder, sqlite_db, now=WHEN, enqueue=lambda i: None, wall=lambda: later)
    rows = _rows(sqlite_db)
    assert len(ids) == 1 and len(rows) == 1 and rows[0].raw == whole


def test_a_far_future_timestamp_does_not_hold_a_file_forever(
    sqlite_db: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    target = folder / "future.eml"
    target.write_bytes(reply(message_id="<f@x>"))
    os.utime(target, (4_000_000_000, 4_000_000_000))  # year 2096: a bogus preserved date
    later = time.time() + SETTLE + 1
    ids = dropbox.scan(folder, sqlite_db, now=WHEN, enqueue=lambda i: None, wall=lambda: later)
    assert len(ids) == 1 and not target.exists()
