"""What every dramatiq job shares (`comms.job_middleware`): its `now` decoded once, its failure
logged redacted, and a permanent error never retried."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker

from comms import broker as broker_mod
from comms.actors import deliver, deliver_many
from comms.errors import PermanentError
from comms.job_middleware import decode_now, job_now
from comms.settings import get_settings
from comms.timeutil import utcnow
from inbound.jobs import process_inbound


def test_now_is_decoded_from_the_message() -> None:
    assert decode_now("2026-11-02T15:00:00+00:00") == datetime(2026, 11, 2, 15, tzinfo=UTC)
    assert decode_now("2026-11-02T15:00:00").tzinfo is not None
    local = decode_now("2026-11-02T10:00:00-05:00")
    assert local == datetime(2026, 11, 2, 10, tzinfo=ZoneInfo("America/New_York"))
    before = utcnow()
    for absent in (None, ""):
        assert before - timedelta(seconds=1) <= decode_now(absent) <= utcnow()
    with pytest.raises(PermanentError, match="bad 'now'"):
        decode_now("not a time")
    # outside a worker the actor's own argument is decoded
    assert job_now("2026-11-02T15:00:00+00:00") == datetime(2026, 11, 2, 15, tzinfo=UTC)


def test_every_actor_throws_permanent_errors() -> None:
    for actor in (deliver, deliver_many, process_inbound):
        assert PermanentError in actor.options["throws"]


def _dead_letters(broker: StubBroker) -> list[MessageProxy]:
    return list(broker.dead_letters)


def test_a_permanent_error_fails_once_and_is_logged_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = broker_mod.setup_broker(get_settings())
    assert isinstance(broker, StubBroker)
    broker_mod.send(deliver_many, ["ops@example.com"])
    with (
        caplog.at_level(logging.WARNING, logger="comms.job_middleware"),
        pytest.raises(PermanentError, match="bad delivery ids"),
    ):
        broker_mod.drain(timeout_s=30)  # fail_fast: the command that drains sees it
    (dead,) = _dead_letters(broker)
    assert dead.options.get("retries", 0) == 0  # not retried
    lines = [r.getMessage() for r in caplog.records if r.name == "comms.job_middleware"]
    assert len(lines) == 1
    assert "deliver_many" in lines[0] and "permanent: not retried" in lines[0]
    assert "ops@example.com" not in lines[0] and "@example.com" in lines[0]


def test_a_bad_now_is_permanent_and_the_actor_never_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = broker_mod.setup_broker(get_settings())
    assert isinstance(broker, StubBroker)
    deliver.send(1, "not a time")  # as an older or foreign sender might
    with (
        caplog.at_level(logging.WARNING, logger="comms.job_middleware"),
        pytest.raises(PermanentError, match="bad 'now'"),
    ):
        broker_mod.drain(timeout_s=30)
    (dead,) = _dead_letters(broker)
    assert dead.options.get("retries", 0) == 0
    assert any("bad 'now'" in r.getMessage() for r in caplog.records)
