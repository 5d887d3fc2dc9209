"""The sweep re-enqueues only orphaned rows; leases are wall-clock time; a dead worker's
journal marks the rows whose reply the server gave as sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.delivery_batch import claim_many
from comms.models import Delivery
from comms.outbox import REENQUEUE_AFTER, SWEEP_GRACE, mark_enqueued, stale_deliveries
from comms.outbox_journal import Journal, recover_journals
from comms.timeutil import utcnow
from tests.faults.helpers import queued_emails, statuses


def _sweep(db: Engine, *, now: datetime, wall: datetime | None = None) -> list[int]:
    with Session(db) as s:
        ids = stale_deliveries(s, now=now, wall=wall)
        mark_enqueued(s, ids, wall=wall)
        s.commit()
    return ids


def test_a_far_future_now_does_not_take_rows_from_their_worker(db: Engine, now: datetime) -> None:
    ids = queued_emails(db, now, "f", 3)
    with Session(db) as s:
        assert len(claim_many(s, ids[:2], now=now)) == 2  # a worker is sending these
    far = now + timedelta(days=400)
    # the simulated clock is past their lease, the wall clock is not: not the sweep's
    assert _sweep(db, now=far) == [ids[2]]
    assert statuses(db, ids[:2]) == {"sending": 2}
    # the worker died: 46 s later on the wall clock its rows are the sweep's
    later = utcnow() + timedelta(seconds=46)
    assert _sweep(db, now=far, wall=later) == ids[:2]
    assert statuses(db, ids) == {"queued": 3}


def test_a_row_waiting_in_the_broker_is_not_enqueued_on_every_pass(
    db: Engine, now: datetime
) -> None:
    ids = queued_emails(db, now, "w", 4)
    assert _sweep(db, now=now) == []  # just written: its first message is on its way
    after = now + SWEEP_GRACE
    wall = utcnow()
    assert _sweep(db, now=after, wall=wall) == ids  # no message came: enqueued once
    assert _sweep(db, now=after, wall=wall + timedelta(seconds=30)) == []
    assert _sweep(db, now=after, wall=wall + timedelta(seconds=59)) == []
    # still queued long after: that message was lost too
    assert _sweep(db, now=after, wall=wall + REENQUEUE_AFTER + timedelta(seconds=1)) == ids


def test_a_dead_workers_journal_marks_its_rows_sent(
    db: Engine, now: datetime, tmp_path: Path
) -> None:
    ids = queued_emails(db, now, "j", 3)
    with Session(db) as s:
        claim_many(s, ids, now=now)
    journal = Journal(tmp_path / "journal")
    journal.add(ids[0], "250 2.0.0 queued as 7", "<a@x.test>")
    journal.add(ids[1], "250 OK", None)
    # its writer is alive (holds the lock): nothing is touched
    assert recover_journals(db, tmp_path / "journal", now=now) == 0
    journal.close(keep=True)  # the writer dies with the lines unrecorded
    assert recover_journals(db, tmp_path / "journal", now=now) == 2
    assert list((tmp_path / "journal").iterdir()) == []
    with Session(db) as s:
        first, second, third = (s.get(Delivery, i) for i in ids)
        assert first is not None and second is not None and third is not None
        assert (first.status, first.provider_message_id, first.message_id) == (
            "sent",
            "250 2.0.0 queued as 7",
            "<a@x.test>",
        )
        assert second.status == "sent"
        assert third.status == "sending"  # never answered: the lease decides
