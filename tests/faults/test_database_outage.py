"""PostgreSQL refuses connections in the middle of a delivery stream (behind a TCP proxy the
test cuts): the senders stop, the outcomes are kept and recorded once the database is back,
and nothing is sent twice."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from sqlalchemy.engine import Engine

from comms.db import make_engine
from comms.delivery_batch import RECORD_EVERY
from comms.dispatch import deliver_many
from tests.faults.helpers import queued_emails, received, statuses
from tests.support.smtp_server import SmtpTestServer
from tests.support.tcp_proxy import TcpProxy

COUNT = 240


def _wait(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.mark.postgres
@pytest.mark.parametrize("outage", [3.0])
def test_database_refused_mid_delivery_sends_nothing_twice(
    pg_db: Engine, smtp: SmtpTestServer, now: datetime, outage: float
) -> None:
    ids = queued_emails(pg_db, now, "o", COUNT)
    smtp.data_delay = 0.01
    url = pg_db.url
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = make_engine(
            url.set(host=proxy.host, port=proxy.port).render_as_string(hide_password=False)
        )
        errors: list[BaseException] = []

        def run() -> None:
            try:
                deliver_many(ids, now=now, engine=proxied)
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        try:
            assert _wait(lambda: len(smtp.messages) >= 60 or errors, 60), errors
            proxy.cut()
            at_cut = len(smtp.messages)
            time.sleep(outage)
            during = len(smtp.messages) - at_cut
            proxy.restore()
            worker.join(timeout=120)
            assert not worker.is_alive(), "the stream did not finish after the outage"
        finally:
            proxy.restore()
            worker.join(timeout=5)
            proxied.dispose()
    assert errors == []
    # the senders stopped: only those in flight, and those sent before the first failed
    # write, went out while the database was away
    print("during", during, "at_cut", at_cut)
    assert during <= RECORD_EVERY + 4, during
    counts = received(smtp)
    assert len(counts) == COUNT  # none lost
    assert max(counts.values()) == 1, [m for m, n in counts.items() if n > 1]  # none twice
    assert statuses(pg_db, ids) == {"sent": COUNT}  # every outcome recorded after recovery
