"""The drop folder, the processing job on the broker, and the sweep for lost jobs."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms import broker as broker_mod
from inbound import dropbox
from inbound.jobs import enqueue_processing, sweep
from inbound.models import InboundEmail
from inbound.store import store_raw
from tests.inbound.conftest import WHEN, make_world, reply


def test_drop_folder_stores_each_file_once_and_moves_it(db: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    (folder / "new").mkdir(parents=True)
    (folder / "a.eml").write_bytes(reply(message_id="<a@x>"))
    (folder / "new" / "1700000000.M1.host").write_bytes(reply(message_id="<b@x>"))
    (folder / "notes.txt").write_text("not mail")
    (folder / "dup.eml").write_bytes(reply(message_id="<a@x>"))  # same bytes as a.eml
    queued: list[int] = []

    def later() -> float:  # past the settle window: the files are complete
        return time.time() + 60

    ids = dropbox.scan(folder, db, now=WHEN, enqueue=queued.append, wall=later)
    assert len(ids) == 2 and queued == ids
    assert not (folder / "a.eml").exists() and not (folder / "dup.eml").exists()
    assert (folder / "notes.txt").exists()
    assert len(list((folder / "done").iterdir())) == 3
    assert dropbox.scan(folder, db, now=WHEN, enqueue=queued.append, wall=later) == []
    with Session(db) as s:
        rows = s.exec(select(InboundEmail)).all()
        assert {r.source for r in rows} == {"dropbox"} and len(rows) == 2


def test_processing_job_runs_on_the_broker(use_db: Engine) -> None:
    make_world(use_db)
    with Session(use_db, expire_on_commit=False) as s:
        row, _ = store_raw(s, reply(), source="file", now=WHEN)
    broker_mod.current_broker()  # the stub broker, set up from settings
    enqueue_processing(row.id or 0, now=WHEN)
    assert broker_mod.drain(timeout_s=60) == 1
    with Session(use_db) as s:
        done = s.get(InboundEmail, row.id)
        assert done is not None and done.status == "processed" and done.classification == "reply"


def test_sweep_finds_lost_jobs_and_dead_workers(use_db: Engine) -> None:
    with Session(use_db, expire_on_commit=False) as s:
        lost, _ = store_raw(s, reply(message_id="<lost@x>"), source="file", now=WHEN)
        fresh, _ = store_raw(s, reply(message_id="<fresh@x>"), source="file", now=WHEN)
        dead, _ = store_raw(s, reply(message_id="<dead@x>"), source="file", now=WHEN)
        fresh.received_at = WHEN + timedelta(minutes=9)
        dead.status, dead.lease_until = "processing", WHEN + timedelta(minutes=1)
        s.add(fresh)
        s.add(dead)
        s.commit()
    broker_mod.current_broker()
    found = sweep(use_db, now=WHEN + timedelta(minutes=10))
    assert lost.id is not None and dead.id is not None
    assert sorted(found) == sorted([lost.id, dead.id])
