"""How far a mailbox folder has been read: its UIDVALIDITY and the last UID stored.

The checkpoint moves forward only after a batch is stored, so a listener killed mid-batch
fetches that batch again on restart (the store deduplicates it). A new UIDVALIDITY means the
server renumbered the folder: the checkpoint starts again from UID 0 and the folder is
rescanned (the store recognizes messages it already has by Message-ID and bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from inbound.models import ImapCheckpoint


@dataclass(frozen=True)
class Position:
    uidvalidity: int
    last_uid: int
    rescan: bool  # the stored UIDVALIDITY differed (or none): UIDs restart


def read(engine: Engine, mailbox: str) -> ImapCheckpoint | None:
    with Session(engine) as session:
        return session.exec(select(ImapCheckpoint).where(ImapCheckpoint.mailbox == mailbox)).first()


def reconcile(engine: Engine, mailbox: str, uidvalidity: int, *, now: datetime) -> Position:
    """The position to read from for the folder's current UIDVALIDITY (committed)."""
    with Session(engine, expire_on_commit=False) as session:
        row = session.exec(select(ImapCheckpoint).where(ImapCheckpoint.mailbox == mailbox)).first()
        if row is None:
            session.add(
                ImapCheckpoint(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=0, updated_at=now)
            )
            try:
                session.commit()
            except IntegrityError:  # another process created it first: read theirs
                session.rollback()
                return reconcile(engine, mailbox, uidvalidity, now=now)
            return Position(uidvalidity, 0, rescan=False)
        if row.uidvalidity == uidvalidity:
            return Position(uidvalidity, row.last_uid, rescan=False)
        row.uidvalidity = uidvalidity
        row.last_uid = 0
        row.updated_at = now
        session.add(row)
        session.commit()
        return Position(uidvalidity, 0, rescan=True)


def advance(
    engine: Engine, mailbox: str, *, uidvalidity: int, last_uid: int, now: datetime
) -> bool:
    """Move the checkpoint forward to ``last_uid`` (never back); False if the folder's
    UIDVALIDITY changed in the meantime (nothing is written then)."""
    with Session(engine) as session:
        result = session.execute(
            update(ImapCheckpoint)
            .where(
                col(ImapCheckpoint.mailbox) == mailbox,
                col(ImapCheckpoint.uidvalidity) == uidvalidity,
                col(ImapCheckpoint.last_uid) < last_uid,
            )
            .values(last_uid=last_uid, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if getattr(result, "rowcount", 0) == 1:
            return True
        row = session.exec(select(ImapCheckpoint).where(ImapCheckpoint.mailbox == mailbox)).first()
        return row is not None and row.uidvalidity == uidvalidity
