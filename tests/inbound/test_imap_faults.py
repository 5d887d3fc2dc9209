"""Faults against a real Dovecot: the listener killed mid-batch and restarted, the connection
closed or gone silent during IDLE, two listeners on one mailbox. In every case each message
is stored once, processed once, and moved out once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms.app.cli import app
from comms.settings import Settings, reset_settings_cache
from comms.timeutil import utcnow
from inbound.imap.listener import Listener
from inbound.models import MailboxLease
from tests.conftest import REPO
from tests.inbound.conftest import make_world
from tests.inbound.imap_support import (
    PipelineWorker,
    agent_reply,
    checkpoint,
    clock,
    imap_settings,
    reply_events,
    rows,
    wait_for,
)
from tests.support.db import sqlite_engine
from tests.support.dovecot import PASSWORD, Dovecot, shared_server
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.dovecot


@pytest.fixture(scope="module")
def server() -> Dovecot:
    return shared_server()


@pytest.fixture
def user(server: Dovecot) -> str:
    return server.add_user()


@dataclass
class Running:
    listener: Listener
    stop: threading.Event
    thread: threading.Thread
    sleeps: list[float]


@pytest.fixture
def start() -> Iterator[object]:
    """Start listeners in threads (stopped and joined at the end of the test)."""
    started: list[Running] = []

    def _start(cfg: Settings, engine: Engine, worker: PipelineWorker, **kw: object) -> Running:
        stop = threading.Event()
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:  # record the backoff, wait a little
            sleeps.append(seconds)
            stop.wait(0.05)

        listener = Listener(
            settings=cfg,
            engine=engine,
            stop=stop,
            enqueue=worker.enqueue,
            clock=clock,
            sleep=sleep,
            lease_ttl=timedelta(seconds=5),
            lease_every=0.2,
            **kw,  # type: ignore[arg-type]
        )
        thread = threading.Thread(target=listener.run, daemon=True)
        thread.start()
        running = Running(listener, stop, thread, sleeps)
        started.append(running)
        return running

    yield _start
    for running in started:
        running.stop.set()
    for running in started:
        running.thread.join(timeout=20)
        assert not running.thread.is_alive(), "the listener did not stop"


def all_done(engine: Engine, server: Dovecot, user: str, n: int) -> bool:
    stored = rows(engine)
    return (
        len(stored) == n
        and all(r.disposed_at is not None for r in stored)
        and server.count(user, "INBOX") == 0
    )


def assert_exactly_once(engine: Engine, server: Dovecot, user: str, n: int) -> None:
    stored = rows(engine)
    assert len(stored) == n
    assert len({r.message_id for r in stored}) == n
    assert all(r.status == "processed" and r.attempts == 1 for r in stored)
    assert reply_events(engine) == {r.id: 1 for r in stored}
    assert server.count(user, "INBOX") == 0 and server.count(user, "Processed") == n


def test_kicked_during_idle_reconnects_and_reads_new_mail(
    server: Dovecot, user: str, sqlite_db: Engine, start
) -> None:
    make_world(sqlite_db)
    cfg = imap_settings(server, user, imap_idle_seconds=30.0)
    server.append_many(user, [agent_reply(1), agent_reply(2)])
    with PipelineWorker(sqlite_db, cfg) as worker:
        run = start(cfg, sqlite_db, worker)
        wait_for(lambda: all_done(sqlite_db, server, user, 2), "the first two messages")
        wait_for(lambda: run.listener.state == "idle", "IDLE")
        server.kick(user)  # the server says BYE and closes the connection
        wait_for(lambda: run.listener.connects >= 2, "a reconnection")
        server.append(user, agent_reply(3))
        wait_for(lambda: all_done(sqlite_db, server, user, 3), "the message sent after the kick")
    assert run.sleeps, "the reconnection went through the backoff"
    assert sorted(worker.seen) == [r.id for r in rows(sqlite_db)]
    assert_exactly_once(sqlite_db, server, user, 3)


def test_silent_connection_during_idle_is_found_dead(
    server: Dovecot, user: str, sqlite_db: Engine, start
) -> None:
    """The network swallows everything and closes nothing: IDLE hears nothing, which proves
    nothing; the DONE/NOOP round trip times out and the listener reconnects."""
    make_world(sqlite_db)
    with TcpProxy(server.host, server.port) as proxy:
        cfg = imap_settings(server, user, port=proxy.port, imap_idle_seconds=1.0, imap_timeout=1.0)
        server.append(user, agent_reply(1))
        with PipelineWorker(sqlite_db, cfg) as worker:
            run = start(cfg, sqlite_db, worker)
            wait_for(lambda: all_done(sqlite_db, server, user, 1), "the first message")
            wait_for(lambda: run.listener.state == "idle", "IDLE")
            assert proxy.freeze() == 1
            server.append(user, agent_reply(2))  # its EXISTS never reaches the listener
            wait_for(lambda: all_done(sqlite_db, server, user, 2), "the message sent meanwhile")
    assert run.listener.connects >= 2 and proxy.connections >= 2
    assert_exactly_once(sqlite_db, server, user, 2)


def test_two_listeners_one_mailbox_only_one_reads(
    server: Dovecot, user: str, sqlite_db: Engine, start
) -> None:
    make_world(sqlite_db)
    cfg = imap_settings(server, user)
    server.append_many(user, [agent_reply(n) for n in range(1, 6)])
    with PipelineWorker(sqlite_db, cfg) as worker:
        first = start(cfg, sqlite_db, worker, holder="first")
        second = start(cfg, sqlite_db, worker, holder="second")
        wait_for(lambda: all_done(sqlite_db, server, user, 5), "five messages")
        wait_for(
            lambda: "waiting-for-lease" in (first.listener.state, second.listener.state),
            "the loser to wait",
        )
        reader, waiter = (first, second) if first.listener.fetched else (second, first)
        assert (reader.listener.fetched, waiter.listener.fetched) == (5, 0)
        assert waiter.listener.connects == 0  # it never even connected
        # the reader stops (its lease is released): the other takes over
        reader.stop.set()
        reader.thread.join(timeout=20)
        server.append(user, agent_reply(6))
        wait_for(lambda: all_done(sqlite_db, server, user, 6), "the sixth message")
    assert waiter.listener.fetched == 1
    assert_exactly_once(sqlite_db, server, user, 6)


def _env(server: Dovecot, user: str, db_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMS_")}
    env.update(
        {
            "COMMS_CONFIG": str(REPO / "tests" / "support" / "empty.toml"),
            "COMMS_DATA_DIR": str(db_path.parent / "var"),
            "COMMS_DATABASE_URL": f"sqlite:///{db_path}",
            "COMMS_IMAP_HOST": server.host,
            "COMMS_IMAP_PORT": str(server.port),
            "COMMS_IMAP_SSL": "false",
            "COMMS_IMAP_USERNAME": user,
            "COMMS_IMAP_PASSWORD": PASSWORD,
            "COMMS_IMAP_TIMEOUT": "10",
            "COMMS_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def _listen(env: dict[str, str], *options: str) -> subprocess.Popen[bytes]:
    options = options or ("--once",)
    return subprocess.Popen(
        [sys.executable, "-c", "from comms.app.cli import main; main()", "imap-listen", *options],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_listener_killed_mid_batch_and_restarted(
    server: Dovecot, user: str, tmp_path: Path
) -> None:
    """`comms imap-listen --once` in a process, over a slow link, killed with SIGKILL once a
    few messages are stored; a second run finishes the job."""
    n = 24
    path = tmp_path / "listener.db"
    engine = sqlite_engine(str(path))
    make_world(engine)
    server.append_many(user, [agent_reply(i) for i in range(1, n + 1)])
    with TcpProxy(server.host, server.port, chunk=256) as proxy:
        proxy.delay = 0.03  # about 8 kB/s: seconds between the 3rd message stored and the last
        env = _env(server, user, path, COMMS_IMAP_PORT=str(proxy.port), COMMS_IMAP_BATCH_SIZE="5")
        proc = _listen(env)
        try:
            wait_for(lambda: len(rows(engine)) >= 3 or proc.poll() is not None, "3 stored", 60)
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            if proc.stdout:
                proc.stdout.close()
    killed_at = len(rows(engine))
    assert 3 <= killed_at < n
    point = checkpoint(engine)
    # the listener kept its place (written before the first batch), and not past what it stored
    assert point is not None and point.last_uid <= max(r.uid or 0 for r in rows(engine))
    assert server.count(user, "INBOX") == n  # nothing moved before processing
    # the dead process's lease stays until it expires (60 s); pretend that time has passed
    with Session(engine) as s:
        held = s.exec(select(MailboxLease)).one()
        assert held.holder.split(":")[1] == str(proc.pid)
        held.expires_at = utcnow() - timedelta(seconds=1)
        s.add(held)
        s.commit()

    again = _listen(_env(server, user, path))
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out.decode(errors="replace")
    point = checkpoint(engine)
    assert point is not None and point.last_uid == n
    assert_exactly_once(engine, server, user, n)
    engine.dispose()


def test_once_exits_when_another_listener_holds_the_mailbox(
    server: Dovecot, user: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cli.db"
    engine = sqlite_engine(str(path))
    make_world(engine)
    for key, value in _env(server, user, path).items():
        if key.startswith("COMMS_"):
            monkeypatch.setenv(key, value)
    reset_settings_cache()
    server.append(user, agent_reply(1))
    mailbox = f"{user}@{server.host}/INBOX"
    with Session(engine) as s:
        s.add(
            MailboxLease(
                mailbox=mailbox,
                holder="elsewhere:1:abcd",
                acquired_at=utcnow(),
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
        s.commit()
    runner = CliRunner()
    busy = runner.invoke(app, ["imap-listen", "--once"])
    assert busy.exit_code == 75, busy.output
    assert "being read by another listener" in busy.output and "elsewhere:1:abcd" in busy.output
    assert rows(engine) == []

    with Session(engine) as s:
        held = s.get(MailboxLease, 1)
        assert held is not None
        held.expires_at = utcnow() - timedelta(seconds=1)  # its holder died
        s.add(held)
        s.commit()
    done = runner.invoke(app, ["imap-listen", "--once"])
    assert done.exit_code == 0, done.output
    assert "1 fetched, 1 new, 1 moved" in done.output
    assert [r.status for r in rows(engine)] == ["processed"]
    assert server.count(user, "Processed") == 1
    engine.dispose()


def test_listen_runs_with_its_worker_until_sigterm_and_gives_up_the_lease(
    server: Dovecot, user: str, tmp_path: Path
) -> None:
    """`comms imap-listen` (no --once): the in-process dramatiq worker processes what the
    listener stores, mail arriving later is picked up from IDLE, SIGTERM stops it cleanly."""
    path = tmp_path / "forever.db"
    engine = sqlite_engine(str(path))
    make_world(engine)
    server.append_many(user, [agent_reply(1), agent_reply(2)])
    env = _env(server, user, path, COMMS_IMAP_POLL_SECONDS="0.2")
    proc = _listen(env, "--folder", "INBOX")
    try:
        wait_for(lambda: all_done(engine, server, user, 2) or proc.poll() is not None, "2", 60)
        server.append(user, agent_reply(3))
        wait_for(lambda: all_done(engine, server, user, 3) or proc.poll() is not None, "3", 60)
        assert proc.poll() is None
        with Session(engine) as s:
            assert s.exec(select(MailboxLease)).one().holder.split(":")[1] == str(proc.pid)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out.decode(errors="replace")
    assert_exactly_once(engine, server, user, 3)
    with Session(engine) as s:
        assert s.exec(select(MailboxLease)).first() is None  # released on the way out
    engine.dispose()
