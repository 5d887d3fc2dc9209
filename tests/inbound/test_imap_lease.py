"""Mailbox leases and checkpoints on SQLite and PostgreSQL; the reconnect backoff; batches."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from inbound.imap import checkpoint, lease
from inbound.imap.connection import Backoff, Mailbox, mailbox_label
from inbound.imap.sync import plan_batches

MAILBOX = "coi@example.com@imap.example.com/INBOX"
TTL = timedelta(seconds=60)


def test_one_holder_at_a_time_until_the_lease_expires(db: Engine, now: datetime) -> None:
    assert lease.acquire(db, MAILBOX, "a", now=now, ttl=TTL)
    assert not lease.acquire(db, MAILBOX, "b", now=now + timedelta(seconds=30), ttl=TTL)
    assert lease.acquire(db, MAILBOX, "a", now=now + timedelta(seconds=40), ttl=TTL)  # renewal
    assert not lease.acquire(db, MAILBOX, "b", now=now + timedelta(seconds=90), ttl=TTL)
    # a is gone: its lease (renewed at +40 s) runs out at +100 s
    assert lease.acquire(db, MAILBOX, "b", now=now + timedelta(seconds=101), ttl=TTL)
    assert not lease.acquire(db, MAILBOX, "a", now=now + timedelta(seconds=102), ttl=TTL)
    held = lease.current(db, MAILBOX)
    assert held is not None and held.holder == "b"
    lease.release(db, MAILBOX, "a")  # not a's to release
    assert lease.current(db, MAILBOX) is not None
    lease.release(db, MAILBOX, "b")
    assert lease.current(db, MAILBOX) is None
    assert lease.acquire(db, "other-mailbox", "a", now=now, ttl=TTL)


def test_concurrent_acquire_has_exactly_one_winner(db: Engine, now: datetime) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def contend(name: str) -> None:
        barrier.wait()
        if lease.acquire(db, MAILBOX, name, now=now, ttl=TTL):
            winners.append(name)

    threads = [threading.Thread(target=contend, args=(f"h{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_keeper_notices_a_lost_lease(sqlite_db: Engine, now: datetime) -> None:
    times = [now]
    keeper = lease.LeaseKeeper(sqlite_db, MAILBOX, "a", clock=lambda: times[0], ttl=TTL, every=60)
    assert lease.acquire(sqlite_db, MAILBOX, "a", now=now, ttl=TTL)
    assert keeper.renew() and not keeper.lost.is_set()
    times[0] = now + timedelta(seconds=120)  # a stalled: b takes the expired lease
    assert lease.acquire(sqlite_db, MAILBOX, "b", now=times[0], ttl=TTL)
    assert not keeper.renew() and keeper.lost.is_set()
    keeper.stop()  # does not release b's lease
    held = lease.current(sqlite_db, MAILBOX)
    assert held is not None and held.holder == "b"


def test_holder_names_are_unique() -> None:
    assert len({lease.new_holder() for _ in range(50)}) == 50


def test_checkpoint_moves_forward_and_restarts_on_a_new_uidvalidity(
    db: Engine, now: datetime
) -> None:
    first = checkpoint.reconcile(db, MAILBOX, 7, now=now)
    assert (first.uidvalidity, first.last_uid, first.rescan) == (7, 0, False)
    assert checkpoint.advance(db, MAILBOX, uidvalidity=7, last_uid=50, now=now)
    assert checkpoint.advance(db, MAILBOX, uidvalidity=7, last_uid=20, now=now)  # never back
    assert checkpoint.reconcile(db, MAILBOX, 7, now=now).last_uid == 50
    renumbered = checkpoint.reconcile(db, MAILBOX, 8, now=now)
    assert (renumbered.last_uid, renumbered.rescan) == (0, True)
    assert not checkpoint.advance(db, MAILBOX, uidvalidity=7, last_uid=60, now=now)
    row = checkpoint.read(db, MAILBOX)
    assert row is not None and (row.uidvalidity, row.last_uid) == (8, 0)


def test_backoff_grows_is_capped_jittered_and_resets() -> None:
    low = Backoff(base=1.0, cap=30.0, rng=lambda: 0.0)
    high = Backoff(base=1.0, cap=30.0, rng=lambda: 1.0)
    lows = [low.next_delay() for _ in range(8)]
    highs = [high.next_delay() for _ in range(8)]
    assert highs == [1, 2, 4, 8, 16, 30, 30, 30]
    assert lows == [h / 2 for h in highs]
    for _ in range(2000):  # no overflow however long the server stays down
        high.next_delay()
    assert high.next_delay() == 30
    high.reset()
    assert high.next_delay() == 1


def test_batches_respect_count_and_bytes_and_big_messages_go_alone() -> None:
    sizes = {1: 10, 2: 10, 3: 10, 4: 500, 5: 10, 6: 10, 8: 10}
    uids = [1, 2, 3, 4, 5, 6, 7, 8]  # 7 was expunged before its size was read
    assert plan_batches(uids, sizes, batch_size=2, batch_bytes=100) == [
        [1, 2],
        [3],
        [4],
        [5, 6],
        [8],
    ]
    assert plan_batches(uids, sizes, batch_size=50, batch_bytes=35) == [
        [1, 2, 3],
        [4],
        [5, 6, 8],
    ]


def test_mailbox_key_names_the_account_and_logs_redact_it() -> None:
    box = Mailbox("imap.example.com", 993, True, "coi@example.com", "pw", "INBOX", 60.0)
    assert box.key == "coi@example.com@imap.example.com/INBOX"
    assert box.label == "***@example.com@imap.example.com/INBOX"
    assert "coi@" not in repr(box) and "pw" not in repr(box)
    assert mailbox_label("coi@imap.example.com/INBOX") == "***@imap.example.com/INBOX"


@pytest.mark.parametrize("value", [0, 301])
def test_idle_period_is_at_most_five_minutes(value: float) -> None:
    from comms.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="IMAP_IDLE_SECONDS"):
        load_settings(imap_idle_seconds=value)
