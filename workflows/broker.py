"""The one module that sets the dramatiq broker.

`COMMS_BROKER_URL` picks it: `redis://…` (RedisBroker), `amqp://…` (RabbitmqBroker), or empty
for an in-process StubBroker whose worker runs inside `comms run` (and which `comms tick`
drains before it exits). Actors are declared in `workflows.actors` and bound here, so
importing them never connects anywhere.
"""

from __future__ import annotations

import logging
import threading

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from comms.settings import Settings

log = logging.getLogger(__name__)

QUEUE = "comms"
_lock = threading.Lock()
_broker: dramatiq.Broker | None = None
_actors: list[dramatiq.Actor] = []


def _middleware() -> list[dramatiq.Middleware]:
    # Retries are bounded per actor (see workflows.actors); no Prometheus, no Results.
    return [
        AgeLimit(),
        TimeLimit(time_limit=10 * 60 * 1000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=3, min_backoff=1000, max_backoff=60_000),
    ]


def make_broker(url: str) -> dramatiq.Broker:
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, middleware=_middleware())
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, middleware=_middleware())
    if url:
        raise ValueError(f"unsupported COMMS_BROKER_URL scheme: {url.split(':', 1)[0]!r}")
    return StubBroker(middleware=_middleware())


def setup_broker(settings: Settings) -> dramatiq.Broker:
    """Create the broker from settings, make it dramatiq's global broker, bind our actors."""
    global _broker
    with _lock:
        if _broker is not None:
            _broker.close()
        broker = make_broker(settings.broker_url)
        dramatiq.set_broker(broker)
        _broker = broker
        for actor in _actors:
            actor.broker = broker
            broker.declare_actor(actor)
        log.debug("dramatiq broker: %s", type(broker).__name__)
        return broker


def current_broker(settings: Settings | None = None) -> dramatiq.Broker:
    """The broker set up by `setup_broker` (set up from `settings` on first use)."""
    if _broker is None:
        if settings is None:
            from comms.settings import get_settings

            settings = get_settings()
        return setup_broker(settings)
    return _broker


def register_actor(actor: dramatiq.Actor) -> dramatiq.Actor:
    """Called by workflows.actors: rebind to whatever broker is (or will be) set up."""
    _actors.append(actor)
    if _broker is not None:
        actor.broker = _broker
        _broker.declare_actor(actor)
    return actor


def is_stub(broker: dramatiq.Broker | None = None) -> bool:
    return isinstance(broker or _broker, StubBroker)


def drain(*, timeout_s: float = 300.0, worker_threads: int = 2) -> int:
    """Run the in-process broker's queue to empty (stub broker only). Returns messages seen."""
    broker = current_broker()
    if not isinstance(broker, StubBroker):
        return 0
    from dramatiq import Worker

    import workflows.actors  # noqa: F401  (declares the actors)

    pending = broker.queues[QUEUE].qsize() if QUEUE in broker.queues else 0
    if QUEUE not in broker.queues:
        return 0
    worker = Worker(broker, worker_threads=worker_threads, worker_timeout=100)
    worker.start()
    try:
        broker.join(QUEUE, timeout=int(timeout_s * 1000))
        worker.join()
    finally:
        worker.stop()
    return pending


def reset() -> None:
    """Forget the broker (tests)."""
    global _broker
    with _lock:
        if _broker is not None:
            _broker.close()
        _broker = None
