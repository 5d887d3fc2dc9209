"""SMTP 421, a drop after DATA and the SMTP server down mid-campaign; Redis refused or
black-holed while the campaign is enqueued (PostgreSQL, the SMTP server and Redis behind TCP
proxies): 0 lost, 0 sent twice."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta

import pytest
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy.engine import Engine

from comms import broker as broker_mod
from comms import dispatch
from comms.actors import DeliveryBatches
from comms.dispatch import deliver_many
from comms.outbox import SWEEP_GRACE
from comms.settings import get_settings, reset_settings_cache
from comms.timeutil import utcnow
from tests.faults.helpers import queued_emails, received, statuses
from tests.support.services import port_open, require
from tests.support.smtp_server import SmtpTestServer
from tests.support.tcp_proxy import TcpProxy
from workflows.scheduler import sweep

COUNT = 120


@pytest.mark.postgres
def test_smtp_421_drop_and_outage_lose_nothing_and_repeat_nothing(
    pg_db: Engine, smtp: SmtpTestServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = queued_emails(pg_db, now, "s", COUNT)
    smtp.data_delay = 0.01
    with TcpProxy(smtp.host, smtp.port) as proxy:
        monkeypatch.setenv("COMMS_SMTP_PORT", str(proxy.port))
        reset_settings_cache()
        smtp.next_data_replies.extend(["421 4.3.2 try again later"] * 10)
        smtp.drop_next_data = True
        proxy.cut()  # the server is down when the campaign starts …
        dispatch.deliver_many(ids[:20], now=now, engine=pg_db)
        proxy.restore()  # … and back for the rest
        deliver_many(ids, now=now, engine=pg_db)
        later = now
        for _ in range(4):  # the retries, their backoff skipped
            if statuses(pg_db, ids) == {"sent": COUNT}:
                break
            later += timedelta(hours=2)
            deliver_many(ids, now=later, engine=pg_db)
    assert statuses(pg_db, ids) == {"sent": COUNT}
    counts = received(smtp)
    assert len(counts) == COUNT and max(counts.values()) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("fault", ["refused", "black-holed"])
def test_redis_down_while_enqueueing_loses_nothing(
    pg_db: Engine, smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    require(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    import redis

    redis.Redis.from_url("redis://127.0.0.1:6379/15").flushdb()
    now = utcnow()
    ids = queued_emails(pg_db, now, "r", 60)
    with TcpProxy("127.0.0.1", 6379) as proxy:
        monkeypatch.setenv("COMMS_BROKER_URL", f"redis://127.0.0.1:{proxy.port}/15")
        monkeypatch.setenv("COMMS_DATABASE_URL", pg_db.url.render_as_string(hide_password=False))
        reset_settings_cache()
        broker = broker_mod.setup_broker(get_settings())
        worker = Worker(broker, worker_threads=2)
        try:
            assert isinstance(broker, RedisBroker)
            broker.client.ping()  # a pooled connection that will go silent
            proxy.cut() if fault == "refused" else proxy.blackhole()
            batches = DeliveryBatches()
            started = time.monotonic()
            with contextlib.suppress(Exception):  # `comms run` logs it; the sweep finds them
                for delivery_id in ids:
                    batches(delivery_id)
                batches.flush()
            # a silent Redis does not hold the enqueuer: the client's socket timeout
            assert time.monotonic() - started < 30
            proxy.restore()
            worker.start()
            batches = DeliveryBatches()
            # the scheduler's next pass after a new row's grace for its first message
            swept = sweep(pg_db, now=now + SWEEP_GRACE, enqueue=batches, exclude=set())
            batches.flush()
            assert sorted(swept) == sorted(ids)
            deadline = time.monotonic() + 60
            while statuses(pg_db, ids) != {"sent": 60} and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            worker.stop()
            broker_mod.reset()
    assert statuses(pg_db, ids) == {"sent": 60}
    counts = received(smtp)
    assert len(counts) == 60 and max(counts.values()) == 1
