"""kill -9 of a worker in the middle of a campaign (PostgreSQL, Redis, an SMTP server): the
sends repeated stay within the documented bound (`comms.outbox`), and every row is sent within
2 minutes of the restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from comms import broker as broker_mod
from comms.actors import DeliveryBatches
from comms.delivery_batch import RECORD_EVERY
from comms.outbox_journal import recover_journals
from comms.settings import get_settings, reset_settings_cache
from comms.timeutil import utcnow
from tests.faults.helpers import queued_emails, received, statuses
from tests.support.services import port_open, require
from tests.support.smtp_server import SmtpTestServer
from workflows.scheduler import sweep

COMMS = str(Path(sys.executable).with_name("comms"))
REDIS_URL = "redis://127.0.0.1:6379/12"
COUNT = 400
CONNECTIONS = 2  # the smtp fixture's COMMS_SMTP_CONNECTIONS
BOUND = RECORD_EVERY + 2 * CONNECTIONS  # the README's bound for one worker process


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [COMMS, "worker", "--threads", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


class _Scheduler:
    """What `comms scheduler` does for the outbox, every second: read the journals of dead
    workers, re-enqueue the orphaned rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        settings = get_settings()
        while not self.stop.wait(1.0):
            batches = DeliveryBatches()
            recover_journals(self.engine, settings.journal_dir, now=utcnow())
            sweep(self.engine, now=utcnow(), enqueue=batches, exclude=set())
            batches.flush()


@pytest.mark.postgres
def test_kill_9_of_a_worker_repeats_within_the_bound(
    pg_db: Engine, smtp: SmtpTestServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    monkeypatch.setenv("COMMS_BROKER_URL", REDIS_URL)
    monkeypatch.setenv("COMMS_SMTP_TIMEOUT", "5")  # a 20 s lease
    monkeypatch.setenv("COMMS_DATABASE_URL", pg_db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("COMMS_LOG_LEVEL", "WARNING")
    reset_settings_cache()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMS_")}
    env.update({k: v for k, v in os.environ.items() if k.startswith("COMMS_")})
    ids = queued_emails(pg_db, utcnow(), "k", COUNT)
    smtp.data_delay = 0.02
    broker_mod.setup_broker(get_settings())
    scheduler = _Scheduler(pg_db)
    first = _worker(env)
    second: subprocess.Popen[bytes] | None = None
    try:
        batches = DeliveryBatches()
        for delivery_id in ids:
            batches(delivery_id)
        batches.flush()
        deadline = time.monotonic() + 60
        while len(smtp.messages) < COUNT // 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.poll() is None and len(smtp.messages) >= COUNT // 4
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = len(smtp.messages)
        second = _worker(env)
        restarted = time.monotonic()
        scheduler.thread.start()
        while time.monotonic() - restarted < 120:
            if statuses(pg_db, ids) == {"sent": COUNT}:
                break
            time.sleep(0.5)
        recovered = time.monotonic() - restarted
    finally:
        scheduler.stop.set()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        broker_mod.reset()
    assert statuses(pg_db, ids) == {"sent": COUNT}, "not all rows done within 2 minutes"
    counts = received(smtp)
    repeated = sum(n - 1 for n in counts.values())
    print(f"killed after {killed_at} sends; repeated {repeated}; all sent {recovered:.1f} s later")
    assert len(counts) == COUNT  # none lost
    assert repeated <= BOUND
