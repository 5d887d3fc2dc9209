"""The broker is chosen by COMMS_BROKER_URL; actors are thin; permanent errors not retried."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms import broker as broker_mod
from comms.actors import PermanentError, _retry_when, enqueue_delivery
from comms.models import Delivery
from comms.outbox import NewDelivery, create_delivery
from comms.settings import load_settings
from tests.support.services import port_open, require


def _sms_row(engine: Engine) -> int:
    with Session(engine) as s:
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key="k1",
                channel="sms",
                recipient="+12125550142",
                template="renewal_reminder",
                body_text="Reminder: please send your renewed certificate.",
            ),
            now=datetime(2026, 11, 2, 14, tzinfo=UTC),
        )
        s.commit()
        return row.id or 0


def test_empty_url_is_the_in_process_broker() -> None:
    assert isinstance(broker_mod.setup_broker(load_settings()), StubBroker)
    with pytest.raises(ValueError, match="unsupported"):
        broker_mod.make_broker("kafka://x")


def test_retry_policy() -> None:
    assert _retry_when(0, RuntimeError("db down"))
    assert not _retry_when(5, RuntimeError("db down"))  # bounded
    assert not _retry_when(0, PermanentError("bad args"))
    assert not _retry_when(0, LookupError("no sender"))


@pytest.mark.parametrize(
    ("url", "port", "what"),
    [
        ("redis://127.0.0.1:6379/12", 6379, "Redis"),
        ("amqp://guest:guest@127.0.0.1:5672/%2F", 5672, "RabbitMQ"),
    ],
)
def test_real_broker_round_trip(
    use_db: Engine, url: str, port: int, what: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(port_open("127.0.0.1", port), f"{what} at 127.0.0.1:{port}")
    monkeypatch.setenv("COMMS_BROKER_URL", url)
    from comms.settings import get_settings, reset_settings_cache

    reset_settings_cache()
    broker = broker_mod.setup_broker(get_settings())
    broker.flush_all()
    delivery_id = _sms_row(use_db)
    enqueue_delivery(delivery_id, now=datetime(2026, 11, 2, 15, tzinfo=UTC))
    enqueue_delivery(delivery_id)  # a repeated message finds the row already sent
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        status = "queued"
        while time.monotonic() < deadline and status != "sent":
            with Session(use_db) as s:
                row = s.get(Delivery, delivery_id)
                assert row is not None
                status = row.status
            time.sleep(0.2)
    finally:
        worker.stop()
    with Session(use_db) as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None and row.status == "sent" and row.attempts == 1
        assert row.provider_message_id  # the sandbox sender recorded it


def test_batches_of_deliveries_are_one_message_each(
    use_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler's enqueue collects ids and sends one `deliver_many` message per batch;
    the in-process worker delivers every row once, a repeated id included."""
    from comms.actors import DeliveryBatches, _deliver_many
    from comms.settings import get_settings

    broker = broker_mod.setup_broker(get_settings())
    assert isinstance(broker, StubBroker)
    now = datetime(2026, 11, 2, 15, tzinfo=UTC)
    with Session(use_db) as s:
        ids = []
        for i in range(7):
            row, _ = create_delivery(
                s,
                NewDelivery(
                    idempotency_key=f"b{i}",
                    channel="sms",
                    recipient=f"+1212555014{i}",
                    template="renewal_reminder",
                    body_text="Reminder",
                ),
                now=now,
            )
            ids.append(row.id or 0)
        s.commit()
    batches = DeliveryBatches(now=now, size=3)
    for delivery_id in [*ids, ids[0]]:
        batches(delivery_id)
    assert broker.queues[broker_mod.QUEUE].qsize() == 2  # two full batches so far
    batches.flush()
    assert broker.queues[broker_mod.QUEUE].qsize() == 3
    assert broker_mod.drain() == 3  # the three batch messages, each run once
    assert broker.queues[broker_mod.QUEUE].qsize() == 0
    with Session(use_db) as s:
        rows = [s.get(Delivery, i) for i in ids]
        assert all(r is not None and r.status == "sent" and r.attempts == 1 for r in rows)
    with pytest.raises(PermanentError):
        _deliver_many(["x"], None)  # type: ignore[list-item]
    with pytest.raises(PermanentError):
        _deliver_many(ids, "not a time")
