"""The IMAP listener: one per mailbox folder, holding the mailbox's lease while it reads.

    acquire the lease (wait while another listener holds it) and renew it in a thread
    connect (timeouts on every read) -> ensure the Processed and Quarantine folders exist
    resync by UID (`inbound.imap.sync`), move done mail out (`inbound.imap.disposal`)
    loop: IDLE until new mail, processed mail to move, stop, or `imap_idle_seconds` (at most
          5 minutes), then DONE and a NOOP: an IDLE that heard nothing proves nothing, the
          NOOP's answer does; then resync and move again
    any connection error: drop the connection, wait (exponential, capped, jittered), reconnect

Storing and moving are the listener's; processing is the worker's (`enqueue` gets each stored
row's id). Messages stay in the folder until their row is done, then move on the next pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from comms.db import make_engine
from comms.errors import TransientError
from comms.settings import Settings
from comms.timeutil import utcnow
from inbound.imap import disposal, lease
from inbound.imap.connection import (
    CONNECTION_ERRORS,
    Backoff,
    Capabilities,
    ConnectionLost,
    Mailbox,
    close,
    connect,
)
from inbound.imap.sync import Interrupted, SyncReport, sync_folder
from inbound.jobs import enqueue_processing
from inbound.models import InboundEmail, InboundStatus

log = logging.getLogger(__name__)

_NEW_MAIL = (b"EXISTS", b"RECENT")


class LeaseBusy(TransientError, RuntimeError):
    """Another listener holds the mailbox's lease."""

    code = "lease_busy"

    def __init__(self, mailbox: Mailbox, holder: str | None, expires_at: datetime | None) -> None:
        until = f" until {expires_at.isoformat(timespec='seconds')}" if expires_at else ""
        super().__init__(
            f"{mailbox.label} is being read by another listener ({holder or 'unknown'}{until})"
        )
        self.holder = holder
        self.expires_at = expires_at


@dataclass
class PassReport:
    """What one `run_once` pass did."""

    fetched: int = 0
    created: list[int] = field(default_factory=list)
    moved: int = 0
    rescan: bool = False


def _said_bye(responses: list[Any]) -> bool:
    return any(isinstance(r, tuple) and r and r[0] == b"BYE" for r in responses)


def _new_mail(responses: list[Any]) -> bool:
    return any(isinstance(r, tuple) and len(r) >= 2 and r[1] in _NEW_MAIL for r in responses)


class Listener:
    """Reads one mailbox folder until ``stop`` is set. ``clock`` gives "now" (lease expiry,
    stored timestamps); ``sleep`` waits between reconnects (default: ``stop.wait``)."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        stop: threading.Event,
        enqueue: Callable[[int], None],
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Any] | None = None,
        folder: str | None = None,
        holder: str | None = None,
        lease_ttl: timedelta = lease.TTL,
        lease_every: float = lease.RENEW_EVERY,
        backoff: Backoff | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.stop = stop
        self.enqueue = enqueue
        self.clock = clock
        self.sleep = sleep or stop.wait
        self.mailbox = Mailbox.from_settings(settings, folder=folder)
        self.folders = disposal.Folders(
            settings.imap_processed_folder, settings.imap_quarantine_folder
        )
        self.holder = holder or lease.new_holder()
        self.lease_ttl = lease_ttl
        self.lease_every = lease_every
        self.backoff = backoff or Backoff()
        self.idle_seconds = min(settings.imap_idle_seconds, 300.0)
        self.poll_seconds = min(settings.imap_poll_seconds, self.idle_seconds)
        self.batch_size = settings.imap_batch_size
        self.batch_bytes = settings.max_message_bytes
        # counters, for logs and tests
        self.connects = 0
        self.fetched = 0
        self.created: list[int] = []
        self.moved = 0
        self.state = "starting"  # waiting-for-lease | connecting | syncing | idle | stopped
        self._recovered = False

    # --- the lease --------------------------------------------------------------------------
    def _keeper(self) -> lease.LeaseKeeper:
        return lease.LeaseKeeper(
            self.engine,
            self.mailbox.key,
            self.holder,
            clock=self.clock,
            ttl=self.lease_ttl,
            every=self.lease_every,
        ).start()

    def _acquire(self) -> bool:
        return lease.acquire(
            self.engine, self.mailbox.key, self.holder, now=self.clock(), ttl=self.lease_ttl
        )

    def _await_lease(self) -> bool:
        """Block until this listener holds the lease (False: stopped first)."""
        announced = False
        self.state = "waiting-for-lease"
        while not self.stop.is_set():
            try:
                if self._acquire():
                    log.info("listening to %s (lease holder %s)", self.mailbox.label, self.holder)
                    return True
                if not announced:
                    held = lease.current(self.engine, self.mailbox.key)
                    log.warning(
                        "%s; waiting", LeaseBusy(self.mailbox, held.holder if held else None, None)
                    )
                    announced = True
            except SQLAlchemyError as exc:
                log.error("cannot take the lease on %s: %s", self.mailbox.label, exc)
            self.stop.wait(self.lease_every)
        return False

    # --- the connection ---------------------------------------------------------------------
    def _open(self) -> tuple[IMAPClient, Capabilities]:
        self.state = "connecting"
        client = connect(self.mailbox)
        try:
            caps = Capabilities.of(client)
            disposal.ensure_folders(client, [self.folders.processed, self.folders.quarantine])
        except BaseException:
            close(client, logout=False)
            raise
        self.connects += 1
        log.info(
            "connected to %s (IDLE %s, MOVE %s, UIDPLUS %s)",
            self.mailbox.label,
            caps.idle,
            caps.move,
            caps.uidplus,
        )
        return client, caps

    def _recover(self) -> list[int]:
        """Once per listener: enqueue this folder's rows that were stored but never processed
        (a crash between storing and enqueueing) or whose worker died holding them."""
        if self._recovered:
            return []
        now = self.clock()
        with Session(self.engine) as session:
            ids = session.exec(
                select(InboundEmail.id).where(
                    InboundEmail.mailbox == self.mailbox.key,
                    or_(
                        col(InboundEmail.status) == InboundStatus.STORED.value,
                        (col(InboundEmail.status) == InboundStatus.PROCESSING.value)
                        & (col(InboundEmail.lease_until) < now),
                    ),
                )
            ).all()
        found = [int(i) for i in ids if i is not None]
        for row_id in found:
            self.enqueue(row_id)
        if found:
            log.info("%s: %d stored message(s) enqueued again", self.mailbox.label, len(found))
        self._recovered = True
        return found

    def _sync(self, client: IMAPClient, lost: threading.Event) -> SyncReport:
        self.state = "syncing"
        report = sync_folder(
            client,
            self.engine,
            mailbox=self.mailbox.key,
            folder=self.mailbox.folder,
            batch_size=self.batch_size,
            batch_bytes=self.batch_bytes,
            clock=self.clock,
            enqueue=self.enqueue,
            keep_going=lambda: not (self.stop.is_set() or lost.is_set()),
        )
        self.fetched += report.fetched
        self.created.extend(report.created)
        return report

    def _dispose(
        self, client: IMAPClient, caps: Capabilities, report: SyncReport | None, uidvalidity: int
    ) -> int:
        moved = 0
        if report is not None and report.duplicates:
            moved += disposal.dispose_copies(
                client, report.duplicates, folders=self.folders, caps=caps
            )
        moved += disposal.dispose_done(
            client,
            self.engine,
            mailbox=self.mailbox.key,
            uidvalidity=uidvalidity,
            folders=self.folders,
            caps=caps,
            now=self.clock(),
        )
        self.moved += moved
        return moved

    def _wait(
        self, client: IMAPClient, caps: Capabilities, uidvalidity: int, lost: threading.Event
    ) -> None:
        """Wait for something to do, then prove the connection is alive (NOOP)."""
        if not caps.idle:  # poll
            self.state = "idle"
            self.stop.wait(self.poll_seconds)
            self.state = "syncing"
            client.noop()
            return
        deadline = time.monotonic() + self.idle_seconds
        client.idle()
        self.state = "idle"
        while not (self.stop.is_set() or lost.is_set()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = min(remaining, self.poll_seconds)
            started = time.monotonic()
            responses = client.idle_check(timeout=wait)
            if _said_bye(responses):
                raise ConnectionLost("the server said BYE")
            if _new_mail(responses):
                break
            if not responses and time.monotonic() - started < wait / 2:
                break  # readable yet nothing to read: end of stream? DONE and NOOP will tell
            if disposal.has_done(self.engine, self.mailbox.key, uidvalidity):
                break
        self.state = "syncing"
        client.idle_done()
        client.noop()

    def _pause(self, why: str) -> None:
        delay = self.backoff.next_delay()
        log.warning("%s: %s; reconnecting in %.1f s", self.mailbox.label, why, delay)
        self.sleep(delay)

    def _serve(self, lost: threading.Event) -> None:
        """Connect, resync, wait, repeat; reconnect with backoff after any failure."""
        while not (self.stop.is_set() or lost.is_set()):
            client: IMAPClient | None = None
            clean = False
            try:
                client, caps = self._open()
                self._recover()
                report = self._sync(client, lost)
                self._dispose(client, caps, report, report.uidvalidity)
                proven = False
                while not (self.stop.is_set() or lost.is_set()):
                    self._wait(client, caps, report.uidvalidity, lost)
                    if not proven:  # the connection survived a whole round: start over
                        self.backoff.reset()
                        proven = True
                    if self.stop.is_set() or lost.is_set():
                        break
                    report = self._sync(client, lost)
                    self._dispose(client, caps, report, report.uidvalidity)
                clean = True
            except Interrupted:
                clean = True
            except LoginError as exc:
                log.error("%s: login refused: %s", self.mailbox.label, exc)
                self._pause("login refused")
            except CONNECTION_ERRORS as exc:
                self._pause(f"connection lost ({type(exc).__name__}: {exc})")
            except SQLAlchemyError as exc:
                log.error("%s: database error: %s", self.mailbox.label, exc)
                self._pause("database error")
            except Exception:  # a bug must not end the listener thread: log, back off, retry
                log.exception("%s: listener pass failed", self.mailbox.label)
                self._pause("unexpected error")
            finally:
                if client is not None:
                    close(client, logout=clean)

    # --- entry points -----------------------------------------------------------------------
    def run(self) -> None:
        """Listen until ``stop`` is set (waiting for the lease while another listener has it)."""
        while not self.stop.is_set():
            if not self._await_lease():
                break
            keeper = self._keeper()
            try:
                self._serve(keeper.lost)
            finally:
                keeper.stop()
            if keeper.lost.is_set() and not self.stop.is_set():
                log.warning("%s: lease lost; waiting to get it back", self.mailbox.label)
        self.state = "stopped"
        log.info("stopped listening to %s", self.mailbox.label)

    def run_once(self, *, settle: Callable[[], Any] | None = None) -> PassReport:
        """One pass: store what is new, call ``settle`` (e.g. process the stored messages),
        move what is done. Raises LeaseBusy when another listener holds the mailbox."""
        if not self._acquire():
            held = lease.current(self.engine, self.mailbox.key)
            raise LeaseBusy(
                self.mailbox, held.holder if held else None, held.expires_at if held else None
            )
        keeper = self._keeper()
        try:
            client, caps = self._open()
            clean = False
            try:
                self._recover()
                report = self._sync(client, keeper.lost)
                if settle is not None:
                    settle()
                moved = self._dispose(client, caps, report, report.uidvalidity)
                clean = True
            finally:
                close(client, logout=clean)
        finally:
            keeper.stop()
        return PassReport(
            fetched=report.fetched, created=report.created, moved=moved, rescan=report.rescan
        )


def run(
    *,
    settings: Settings,
    stop: threading.Event,
    engine: Engine | None = None,
    enqueue: Callable[[int], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], Any] | None = None,
    folder: str | None = None,
) -> None:
    """Run the listener for ``settings``' mailbox until ``stop`` is set (`comms run` calls
    this in a thread when COMMS_IMAP_HOST is set). Without ``engine`` it opens its own,
    pooled: a long-running listener keeps its SQLite connection instead of reopening (and
    checkpointing the WAL) for every message it stores."""
    own = engine is None
    if engine is None:
        engine = make_engine(settings.effective_database_url, pooled=True)
    if enqueue is None:
        enqueue = enqueue_processing
    try:
        Listener(
            settings=settings,
            engine=engine,
            stop=stop,
            enqueue=enqueue,
            clock=clock,
            sleep=sleep,
            folder=folder,
        ).run()
    finally:
        if own:
            engine.dispose()
