"""`comms run`: the whole service on the embedded defaults.

The scheduler loop plus an in-process dramatiq worker (or, with COMMS_BROKER_URL set, the
scheduler only: run `comms worker` processes alongside), the web app (`comms.web.create_app`)
the IMAP listener (`inbound.imap.listener`) and the drop folder (`inbound.dropbox`) when they
are configured. Each pass also re-enqueues inbound messages whose processing job was lost.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from typing import Any

import typer

from comms.cli.context import console, engine, settings, setup_logging
from comms.timeutil import utcnow

log = logging.getLogger(__name__)


def _optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise


def _start_web(cfg: Any, stop: threading.Event) -> threading.Thread | None:
    web = _optional("comms.web")
    if web is None or not hasattr(web, "create_app"):
        return None
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(web.create_app(cfg), host=cfg.web_host, port=cfg.web_port, log_level="info")
    )
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()

    def _stopper() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=_stopper, daemon=True).start()
    console.print(f"web app on http://{cfg.web_host}:{cfg.web_port}")
    api = _optional("telephony.api")
    if api is not None:
        console.print(api.staff_api_state(len(cfg.staff_tokens)))
    return thread


def _start_listener(cfg: Any, stop: threading.Event) -> threading.Thread | None:
    if not cfg.imap_host:
        return None
    listener = _optional("inbound.imap.listener")
    run = getattr(listener, "run", None) if listener is not None else None
    if run is None:
        return None
    thread = threading.Thread(
        target=run, kwargs={"settings": cfg, "stop": stop}, name="imap", daemon=True
    )
    thread.start()
    console.print(f"IMAP listener on {cfg.imap_host}")
    return thread


def _start_dropbox(cfg: Any, stop: threading.Event, eng: Any) -> threading.Thread | None:
    if cfg.dropbox_dir is None:
        return None
    from inbound import dropbox
    from inbound.jobs import enqueue_processing

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
) -> None:
    """Run the service: scheduler, worker, web app and IMAP listener (when available)."""
    from dramatiq import Worker

    from workflows import broker as broker_mod
    from workflows.actors import DeliveryBatches
    from workflows.scheduler import tick

    cfg = settings()
    setup_logging(cfg.log_level)
    broker = broker_mod.setup_broker(cfg)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = None
    if broker_mod.is_stub(broker):
        worker = Worker(broker, worker_threads=4)
        worker.start()
        console.print("in-process worker started")
    if web:
        _start_web(cfg, stop)
    _start_listener(cfg, stop)
    eng = engine()
    _start_dropbox(cfg, stop, eng)
    from inbound.jobs import sweep

    try:
        while not stop.is_set():
            batches = DeliveryBatches()
            try:
                tick(eng, now=utcnow(), settings=cfg, enqueue=batches)
                sweep(eng, now=utcnow())
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
        dispatch = _optional("comms.dispatch")
        if dispatch is not None:
            dispatch.shutdown()


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `comms` app."""
    app.command("run")(run_cmd)
