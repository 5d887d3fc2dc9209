"""The one module that sets the dramatiq broker.

`COMMS_BROKER_URL` picks it: `redis://…` (RedisBroker), `amqp://…` (RabbitmqBroker), or empty
for an in-process StubBroker whose worker runs inside `comms run` (and which `comms tick`
drains before it exits). Each package declares its actors with `declare_actor` (the delivery
actors in `comms.actors`, inbound processing in `inbound.jobs`); until `setup_broker` binds
them they sit on a placeholder stub, so importing them never reads settings or connects
anywhere. `send` sets the broker up from the settings on first use, and ends every message
with its `now`, which `comms.job_middleware` decodes for the actor. A `PermanentError` is
never retried (every actor `throws` it).
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from comms.errors import PermanentError, TransientError
from comms.job_middleware import JobMiddleware, encode_now
from comms.settings import Settings, get_settings

log = logging.getLogger(__name__)

QUEUE = "comms"
_lock = threading.Lock()
_broker: dramatiq.Broker | None = None
_actors: list[dramatiq.Actor] = []


def _middleware() -> list[dramatiq.Middleware]:
    # Retries are bounded per actor (see comms.actors); no Prometheus, no Results.
    return [
        AgeLimit(),
        TimeLimit(time_limit=10 * 60 * 1000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=3, min_backoff=1000, max_backoff=60_000),
        JobMiddleware(),
    ]


# Redis: the messages a worker had taken and not finished go back to their queue once the
# worker has been silent for this long (dramatiq's default: 60 s), at the first maintenance
# pass after that. A live worker is never silent that long: each of its consumers asks for
# messages at least every second while it has room (its delay queue's, always). A message
# given again to a live worker's peer is harmless: the rows are claimed one way (`claim_many`).
REDIS_HEARTBEAT_TIMEOUT_MS = 15_000
# maintenance (a few sorted-set reads) runs on this many commands in a million (default 1,000:
# with about one command a second on a queue, from an idle worker's consumer, the dead worker's
# messages waited minutes for it; maintenance frees only the queue of the command it rides on)
REDIS_MAINTENANCE_CHANCE = 200_000

# Where actors are declared before a broker is set up: never started, never sent to.
_placeholder = StubBroker(middleware=_middleware())


def make_broker(url: str) -> dramatiq.Broker:
    if url.startswith(("redis://", "rediss://", "unix://")):
        # Lazy: the redis client is an optional dependency (the `redis` extra).
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(
            url=url,
            middleware=_middleware(),
            heartbeat_timeout=REDIS_HEARTBEAT_TIMEOUT_MS,
            maintenance_chance=REDIS_MAINTENANCE_CHANCE,
        )
    if url.startswith(("amqp://", "amqps://")):
        # Lazy: pika is an optional dependency (the `rabbitmq` extra).
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, middleware=_middleware())
    if url:
        raise ValueError(f"unsupported COMMS_BROKER_URL scheme: {url.split(':', 1)[0]!r}")
    return StubBroker(middleware=_middleware())


class BrokerUnreachable(TransientError):
    """COMMS_BROKER_URL names a broker that does not answer."""

    code = "broker_unreachable"


def probe_broker(url: str, *, timeout: float = 3.0) -> None:
    """Raise BrokerUnreachable, naming the address, when nothing accepts a connection at the
    broker `url` (empty: the in-process broker, nothing to reach). A command that needs the
    broker checks it before it writes anything."""
    if not url:
        return
    parts = urlsplit(url)
    default = 6379 if parts.scheme.startswith("redis") else 5672
    try:
        host, port = parts.hostname or "localhost", parts.port or default
    except ValueError as exc:
        raise BrokerUnreachable(f"COMMS_BROKER_URL: {exc}") from None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        kind = "Redis" if parts.scheme.startswith("redis") else "RabbitMQ"
        raise BrokerUnreachable(
            f"COMMS_BROKER_URL: nothing answers on {host}:{port} ({exc.strerror or exc}):"
            f" start {kind} there, fix the URL, or leave it empty for the in-process worker"
        ) from None


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
        return setup_broker(settings if settings is not None else get_settings())
    return _broker


def declare_actor(
    fn: Callable[..., None], *, name: str, priority: int, options: dict[str, Any]
) -> dramatiq.Actor:
    """Declare an actor on our queue: bound to the broker set up so far (or the placeholder),
    and to every broker `setup_broker` sets up later. Its last argument is `now` (`send`)."""
    actor = dramatiq.Actor(
        fn,
        broker=_broker or _placeholder,
        actor_name=name,
        queue_name=QUEUE,
        priority=priority,
        options={"throws": (PermanentError,), **options},
    )
    _actors.append(actor)
    return actor


def send(actor: dramatiq.Actor, *args: Any, now: datetime | None = None) -> None:
    """Enqueue a message for `actor` on the current broker (set up from settings if none).
    `now`: a simulated clock (`--now`); None runs the job at the worker's time."""
    current_broker()
    actor.send(*args, encode_now(now))


def is_stub(broker: dramatiq.Broker | None = None) -> bool:
    return isinstance(broker or _broker, StubBroker)


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM or SIGINT sets: what a long-running command waits on."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def start_local_worker(broker: dramatiq.Broker, *, threads: int) -> Worker | None:
    """A worker inside this process when the broker is the in-process stub (nothing else
    would run its queue); None for Redis or RabbitMQ, whose workers run on their own."""
    if not is_stub(broker):
        return None
    worker = Worker(broker, worker_threads=threads)
    worker.start()
    return worker


def drain(*, timeout_s: float = 300.0, worker_threads: int = 2) -> int:
    """Run the in-process broker's queue to empty (stub broker only). Returns messages seen."""
    broker = current_broker()
    if not isinstance(broker, StubBroker) or QUEUE not in broker.queues:
        return 0
    pending = broker.queues[QUEUE].qsize()
    worker = Worker(broker, worker_threads=worker_threads, worker_timeout=100)
    worker.start()
    try:
        # fail_fast: a message that failed for good (dead-lettered) is raised here, so the
        # command that drains (`comms tick`, `comms imap-listen --once`) does not report success.
        broker.join(QUEUE, timeout=int(timeout_s * 1000), fail_fast=True)
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


def broker_state(settings: Settings, *, timeout: float = 3.0) -> str:
    url = settings.broker_url
    if not url:
        return "ok"  # in-process
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            client = redis.Redis.from_url(
                url, socket_connect_timeout=timeout, socket_timeout=timeout
            )
            try:
                client.ping()
            finally:
                client.close()
        else:
            import pika

            params = pika.URLParameters(url)
            params.socket_timeout = timeout
            params.blocked_connection_timeout = timeout
            pika.BlockingConnection(params).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return "ok"
