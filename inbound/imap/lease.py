"""One listener per mailbox: a row in `mailbox_lease`, renewed while its holder runs.

Acquiring is one atomic statement on SQLite and PostgreSQL alike: an UPDATE that takes the row
only when it has expired or is already ours, else an INSERT that the unique mailbox column
turns into an IntegrityError when another process inserted first. Renewing is the same
statement, so a holder that stalled past its expiry gets the lease back only if nobody else
took it meanwhile.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from inbound.imap.connection import mailbox_label
from inbound.models import MailboxLease

log = logging.getLogger(__name__)

TTL = timedelta(seconds=60)
RENEW_EVERY = 20.0


def new_holder() -> str:
    """``host:pid:random``: unique per listener, readable in the table."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"


def acquire(
    engine: Engine, mailbox: str, holder: str, *, now: datetime, ttl: timedelta = TTL
) -> bool:
    """Take (or renew) the lease on ``mailbox`` until ``now + ttl``; False when another
    holder has it and it has not expired."""
    with Session(engine) as session:
        result = session.execute(
            update(MailboxLease)
            .where(
                col(MailboxLease.mailbox) == mailbox,
                or_(col(MailboxLease.expires_at) < now, col(MailboxLease.holder) == holder),
            )
            .values(holder=holder, expires_at=now + ttl)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            session.commit()
            return True
        session.rollback()
        exists = session.exec(
            select(MailboxLease.id).where(MailboxLease.mailbox == mailbox)
        ).first()
        if exists is not None:
            return False
        session.add(
            MailboxLease(mailbox=mailbox, holder=holder, acquired_at=now, expires_at=now + ttl)
        )
        try:
            session.commit()
        except IntegrityError:  # another listener inserted it first
            session.rollback()
            return False
        return True


def release(engine: Engine, mailbox: str, holder: str) -> None:
    """Give the lease up (only if it is still ours)."""
    with Session(engine) as session:
        session.execute(
            delete(MailboxLease).where(
                col(MailboxLease.mailbox) == mailbox, col(MailboxLease.holder) == holder
            )
        )
        session.commit()


def current(engine: Engine, mailbox: str) -> MailboxLease | None:
    with Session(engine) as session:
        return session.exec(select(MailboxLease).where(MailboxLease.mailbox == mailbox)).first()


class LeaseKeeper:
    """Renews a held lease every ``every`` seconds in a thread; sets ``lost`` when a renewal
    finds another holder, or when the database stays unreachable past the expiry."""

    def __init__(
        self,
        engine: Engine,
        mailbox: str,
        holder: str,
        *,
        clock: Callable[[], datetime],
        ttl: timedelta = TTL,
        every: float = RENEW_EVERY,
    ) -> None:
        self.engine = engine
        self.mailbox = mailbox
        self.holder = holder
        self.clock = clock
        self.ttl = ttl
        self.every = every
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._expires = clock() + ttl
        self._thread = threading.Thread(target=self._loop, name="imap-lease", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def stop(self, *, release_lease: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if release_lease and not self.lost.is_set():
            try:
                release(self.engine, self.mailbox, self.holder)
            except SQLAlchemyError:
                log.warning("could not release the lease on %s", mailbox_label(self.mailbox))

    def renew(self) -> bool:
        now = self.clock()
        try:
            ok = acquire(self.engine, self.mailbox, self.holder, now=now, ttl=self.ttl)
        except SQLAlchemyError as exc:
            log.warning("lease renewal on %s failed: %s", mailbox_label(self.mailbox), exc)
            ok = now < self._expires
            if not ok:
                self.lost.set()
            return ok
        if ok:
            self._expires = now + self.ttl
        else:
            log.error("lost the lease on %s to another listener", mailbox_label(self.mailbox))
            self.lost.set()
        return ok

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            if not self.renew():
                return
