"""The long-running processes: `comms run`, `comms worker`, `comms web`.

`comms run` is the whole service on the embedded defaults: the scheduler loop plus an
in-process dramatiq worker (or, with COMMS_BROKER_URL set, the scheduler only: run `comms
worker` processes alongside), the web app (`comms.app.web.create_app`), the IMAP listener
(`inbound.imap.listener`) and the drop folder (`inbound.dropbox`) when they are configured.
Each pass also re-enqueues inbound messages whose processing job was lost.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING

import typer
from dramatiq import Worker
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from comms import broker as broker_mod
from comms import dispatch
from comms.actors import DeliveryBatches
from comms.app.actors import ACTORS
from comms.cli.context import console, engine, fail, settings, setup_logging
from comms.db import session_scope
from comms.outbox_journal import recover_journals
from comms.settings import Settings
from comms.staff.accounts import active_admins
from comms.timeutil import utcnow
from inbound import dropbox
from inbound.imap import listener
from inbound.jobs import enqueue_processing, sweep
from telephony.task_states import expire_reservations
from workflows.next_due import next_delivery_line
from workflows.scheduler import tick

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)


def expire_call_reservations(db: Engine, now: datetime) -> int:
    """A scheduler pass gives the call desk's ended reservations back to the queue."""
    with Session(db) as session:
        return expire_reservations(session, now=now)


# what each scheduler pass does besides the workflows' tick (`comms run`, `comms tick`,
# `comms scheduler`)
PASS_STEPS = (expire_call_reservations,)

GRACE = 3  # seconds a stopping web server waits for open requests (the workspace's SSE streams)


def _web_stack() -> tuple[ModuleType, Callable[[Settings], FastAPI], Callable[[int], str]]:
    """uvicorn, `create_app` and the staff API's banner. Lazy: the web stack (FastAPI, the
    Twilio routes) takes most of a second to import, and only `comms web` and `comms run`
    serve; every other command starts without it."""
    import uvicorn

    from comms.app.web import create_app
    from telephony.api import staff_api_state

    return uvicorn, create_app, staff_api_state


def port_problem(host: str, port: int) -> str | None:
    """Why the web app cannot listen on host:port (taken, not an address here), or None.
    Binds as uvicorn does (SO_REUSEADDR), then lets go."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror}; set --host or COMMS_WEB_HOST"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is already in use (another comms run or web?);"
                    " stop it or choose another with --port or COMMS_WEB_PORT"
                )
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def _check_port(host: str, port: int) -> None:
    problem = port_problem(host, port)
    if problem is not None:
        raise fail(problem)


def _start_web(cfg: Settings, stop: threading.Event) -> threading.Thread:
    uvicorn, create_app, staff_api_state = _web_stack()
    from comms.app.http_protocol import uvicorn_options  # (lazy, as `_web_stack`)

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(cfg),
            host=cfg.web_host,
            port=cfg.web_port,
            log_level="info",
            timeout_graceful_shutdown=GRACE,
            **uvicorn_options(cfg),
        )
    )
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():  # listening, or failed to
        time.sleep(0.02)
    if not server.started:  # e.g. the port was taken between the check and the bind
        stop.set()
        raise fail(
            f"the web app could not listen on {cfg.web_host}:{cfg.web_port}; choose another"
            " port with --port or COMMS_WEB_PORT"
        )

    def _stopper() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=_stopper, daemon=True).start()
    console.print(f"web app on http://{cfg.web_host}:{cfg.web_port}")
    console.print(staff_api_state(len(cfg.staff_tokens)))
    workspace_banner(cfg)
    return thread


def workspace_banner(cfg: Settings) -> None:
    """Where the staff workspace is, and how to create the first admin when there is none."""
    console.print(f"staff workspace on http://{cfg.web_host}:{cfg.web_port}/")
    try:
        with session_scope(engine()) as session:
            admins = active_admins(session)
    except SQLAlchemyError:  # no staff table yet (`comms init` not run): say how anyway
        admins = 0
    if not admins:
        console.print(
            "no admin yet: create one with [bold]comms staff add NAME --role admin[/bold] "
            "(it asks for the password; or pipe it in with --password-stdin)"
        )


def _start_listener(cfg: Settings, stop: threading.Event) -> threading.Thread | None:
    if not cfg.imap_host:
        return None
    thread = threading.Thread(
        target=listener.run, kwargs={"settings": cfg, "stop": stop}, name="imap", daemon=True
    )
    thread.start()
    console.print(f"IMAP listener on {cfg.imap_host}")
    return thread


def _start_dropbox(cfg: Settings, stop: threading.Event, eng: Engine) -> threading.Thread | None:
    if cfg.dropbox_dir is None:
        return None
    thread = threading.Thread(
        target=dropbox.run,
        kwargs={"settings": cfg, "stop": stop, "engine": eng, "enqueue": enqueue_processing},
        name="dropbox",
        daemon=True,
    )
    thread.start()
    console.print(f"drop folder {cfg.dropbox_dir}")
    return thread


def run_cmd(
    interval: float = typer.Option(30.0, help="Seconds between scheduler passes."),
    web: bool = typer.Option(True, help="Serve the web app when available."),
    host: str | None = typer.Option(None, "--host", help="Web app address (COMMS_WEB_HOST)."),
    port: int | None = typer.Option(None, "--port", help="Web app port (COMMS_WEB_PORT)."),
) -> None:
    """Run the service: scheduler, worker, web app and IMAP listener (when available)."""
    cfg = settings()
    if host is not None or port is not None:
        cfg = cfg.model_copy(
            update={"web_host": host or cfg.web_host, "web_port": port or cfg.web_port}
        )
    if web:  # before anything starts: a taken port stops the service, it does not run blind
        _check_port(cfg.web_host, cfg.web_port)
    setup_logging(cfg.log_level)
    broker = broker_mod.setup_broker(cfg)
    stop = broker_mod.stop_on_signals()
    if web:
        _start_web(cfg, stop)
    worker = broker_mod.start_local_worker(broker, threads=4)
    if worker is not None:
        console.print("in-process worker started")
    _start_listener(cfg, stop)
    eng = engine()
    _start_dropbox(cfg, stop, eng)
    first = True
    try:
        while not stop.is_set():
            batches = DeliveryBatches()
            try:
                at = utcnow()
                tick(eng, now=at, settings=cfg, enqueue=batches)
                for step in PASS_STEPS:
                    step(eng, at)
                sweep(eng, now=utcnow())
                if first:  # a newcomer who sees nothing sent learns when something will be
                    with Session(eng) as session:
                        console.print(
                            next_delivery_line(session, now=at, settings=cfg), highlight=False
                        )
                    first = False
            except Exception:  # keep the service up; the next pass retries
                log.exception("scheduler pass failed")
            try:
                batches.flush()  # what was committed, even in a failed pass
            except Exception:  # the broker is down: the next pass's sweep finds the rows
                log.exception("enqueueing deliveries failed")
            stop.wait(interval)
    finally:
        if worker is not None:
            worker.stop()
        dispatch.shutdown()


def worker_cmd(threads: int = typer.Option(4, help="Worker threads.")) -> None:
    """Run dramatiq workers on the configured broker until SIGTERM/SIGINT."""
    cfg = settings()
    setup_logging(cfg.log_level)
    if not cfg.broker_url:
        raise fail(
            "comms worker needs COMMS_BROKER_URL (the in-process broker runs in `comms run`)"
        )
    broker = broker_mod.setup_broker(cfg)
    log.debug("actors: %s", ", ".join(actor.actor_name for actor in ACTORS))
    try:  # the replies a previous worker here kept but could not record
        recover_journals(engine(), cfg.journal_dir, now=utcnow())
    except Exception:  # the database is down: the scheduler's sweep does it later
        log.exception("reading the journals of dead workers failed")
    worker = Worker(broker, worker_threads=threads)
    worker.start()
    stop = broker_mod.stop_on_signals()
    try:
        while not stop.is_set():
            stop.wait(0.5)
    finally:
        worker.stop()
        dispatch.shutdown()


def web_cmd(
    host: str | None = typer.Option(None, "--host", help="Address (COMMS_WEB_HOST)."),
    port: int | None = typer.Option(None, "--port", help="Port (COMMS_WEB_PORT)."),
) -> None:
    """Serve the Twilio webhooks and the staff API."""
    s = settings()
    _check_port(host or s.web_host, port or s.web_port)
    uvicorn, create_app, staff_api_state = _web_stack()
    from comms.app.http_protocol import uvicorn_options  # (lazy, as `_web_stack`)

    setup_logging(s.log_level)  # redacted, the web server's own loggers included
    console.print(staff_api_state(len(s.staff_tokens)))
    workspace_banner(s)
    uvicorn.run(
        create_app(s),
        host=host or s.web_host,
        port=port or s.web_port,
        log_level=s.log_level.lower(),
        timeout_graceful_shutdown=GRACE,
        **uvicorn_options(s),
    )


def register(app: typer.Typer) -> None:
    """Add `comms run` to the `comms` app (`worker` and `web` are listed with their
    packages' commands: see `comms.app.cli`)."""
    app.command("run")(run_cmd)
