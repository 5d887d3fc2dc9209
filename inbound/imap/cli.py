"""`comms imap-listen [--once] [--folder NAME]`: the IMAP listener on its own.

Without `--once` it runs until SIGTERM or Ctrl-C (with an in-process worker when no broker is
configured); `--once` stores what is new, processes it (in-process broker) or enqueues it,
moves what is done, and exits: exit code 75 (try again later) when another listener holds
the mailbox.
"""

from __future__ import annotations

import threading

import typer
from rich.markup import escape

from comms import broker as broker_mod
from comms.cli.context import console, fail, settings, setup_logging
from comms.db import make_engine
from comms.settings import Settings
from inbound.imap import listener
from inbound.imap.connection import CONNECTION_ERRORS
from inbound.imap.listener import LeaseBusy, Listener
from inbound.jobs import enqueue_processing

LEASE_BUSY_EXIT = 75  # EX_TEMPFAIL


def _configured(folder: str | None) -> Settings:
    cfg = settings()
    setup_logging(cfg.log_level)
    if not cfg.imap_host:
        raise fail("COMMS_IMAP_HOST is not set")
    if folder:
        cfg = cfg.model_copy(update={"imap_folder": folder})
    return cfg


def _once(cfg: Settings) -> None:
    broker = broker_mod.setup_broker(cfg)
    settle = broker_mod.drain if broker_mod.is_stub(broker) else None
    eng = make_engine(cfg.effective_database_url, pooled=True)
    listener = Listener(
        settings=cfg,
        engine=eng,
        stop=threading.Event(),
        enqueue=enqueue_processing,
    )
    try:
        report = listener.run_once(settle=settle)
    except LeaseBusy as exc:
        raise fail(f"{exc}; try again later", LEASE_BUSY_EXIT) from None
    except CONNECTION_ERRORS as exc:
        raise fail(f"{listener.mailbox.label}: {type(exc).__name__}: {exc}", 1) from None
    finally:
        eng.dispose()
    note = " (UIDVALIDITY changed: folder rescanned)" if report.rescan else ""
    console.print(
        escape(
            f"{listener.mailbox.label}: {report.fetched} fetched, {len(report.created)} new, "
            f"{report.moved} moved{note}"
        )
    )


def _forever(cfg: Settings) -> None:
    broker = broker_mod.setup_broker(cfg)
    stop = broker_mod.stop_on_signals()
    worker = broker_mod.start_local_worker(broker, threads=2)
    try:
        listener.run(settings=cfg, stop=stop)  # its own pooled engine
    finally:
        if worker is not None:
            worker.stop()


def imap_listen_cmd(
    once: bool = typer.Option(False, "--once", help="One sync pass, then exit (tests, cron)."),
    folder: str | None = typer.Option(None, "--folder", help="Folder to read (COMMS_IMAP_FOLDER)."),
) -> None:
    """Read new mail from the IMAP mailbox into the pipeline, then move it out when done."""
    cfg = _configured(folder)
    if once:
        _once(cfg)
    else:
        _forever(cfg)


def register(app: typer.Typer) -> None:
    """Add `comms imap-listen` to the `comms` app."""
    app.command("imap-listen")(imap_listen_cmd)
