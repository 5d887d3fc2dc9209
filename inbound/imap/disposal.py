"""Moving processed mail out of the folder: Processed (processed, review) or Quarantine.

MOVE (RFC 6851) when the server has it; else COPY, then `\\Deleted`, then UID EXPUNGE of just
those UIDs (UIDPLUS, RFC 4315), or a plain EXPUNGE on a server without UIDPLUS. The row's
`disposed_at` is set once the server confirmed the move. A move repeated after a crash is
harmless: UIDs that left the folder match nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from imapclient import DELETED, IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from inbound.imap.connection import Capabilities, mailbox_label
from inbound.models import DONE_STATUSES, InboundEmail, InboundStatus

log = logging.getLogger(__name__)

CHUNK = 500  # UIDs per MOVE/COPY command


@dataclass(frozen=True)
class Folders:
    processed: str
    quarantine: str

    def target(self, status: str) -> str:
        return self.quarantine if status == InboundStatus.QUARANTINED.value else self.processed


def ensure_folders(client: IMAPClient, names: Sequence[str]) -> None:
    """Create the folders that do not exist yet."""
    for name in dict.fromkeys(names):
        if client.folder_exists(name):
            continue
        try:
            client.create_folder(name)
            log.info("created IMAP folder %s", name)
        except IMAPClientError:
            if not client.folder_exists(name):  # not a race with another client: a real error
                raise


def move(client: IMAPClient, uids: Sequence[int], target: str, caps: Capabilities) -> None:
    """Move ``uids`` of the selected folder to ``target``."""
    for start in range(0, len(uids), CHUNK):
        chunk = list(uids[start : start + CHUNK])
        if caps.move:
            client.move(chunk, target)
            continue
        client.copy(chunk, target)
        client.add_flags(chunk, [DELETED], silent=True)
        if caps.uidplus:
            client.uid_expunge(chunk)
        else:  # RFC 3501 EXPUNGE: also removes any other message flagged \Deleted
            client.expunge()


def done_rows(engine: Engine, mailbox: str, uidvalidity: int) -> list[tuple[int, int, str]]:
    """(row id, uid, status) of this folder's messages that are done and still in it."""
    with Session(engine) as session:
        rows = session.exec(
            select(InboundEmail.id, InboundEmail.uid, InboundEmail.status)
            .where(
                InboundEmail.mailbox == mailbox,
                InboundEmail.uidvalidity == uidvalidity,
                col(InboundEmail.status).in_(DONE_STATUSES),
                col(InboundEmail.disposed_at).is_(None),
                col(InboundEmail.uid).is_not(None),
            )
            .order_by(col(InboundEmail.uid))
        ).all()
    return [(int(i), int(u), str(s)) for i, u, s in rows if i is not None and u is not None]


def has_done(engine: Engine, mailbox: str, uidvalidity: int) -> bool:
    with Session(engine) as session:
        found = session.exec(
            select(InboundEmail.id)
            .where(
                InboundEmail.mailbox == mailbox,
                InboundEmail.uidvalidity == uidvalidity,
                col(InboundEmail.status).in_(DONE_STATUSES),
                col(InboundEmail.disposed_at).is_(None),
            )
            .limit(1)
        ).first()
    return found is not None


def dispose_done(
    client: IMAPClient,
    engine: Engine,
    *,
    mailbox: str,
    uidvalidity: int,
    folders: Folders,
    caps: Capabilities,
    now: datetime,
) -> int:
    """Move every done message of the selected folder to its target; return how many."""
    groups: dict[str, list[tuple[int, int]]] = {}
    for row_id, uid, status in done_rows(engine, mailbox, uidvalidity):
        groups.setdefault(folders.target(status), []).append((row_id, uid))
    moved = 0
    for target, items in groups.items():
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            move(client, [uid for _, uid in chunk], target, caps)
            with Session(engine) as session:
                session.execute(
                    update(InboundEmail)
                    .where(col(InboundEmail.id).in_([row_id for row_id, _ in chunk]))
                    .values(disposed_at=now)
                    .execution_options(synchronize_session=False)
                )
                session.commit()
            moved += len(chunk)
        log.info("%s: %d message(s) moved to %s", mailbox_label(mailbox), len(items), target)
    return moved


def dispose_copies(
    client: IMAPClient,
    duplicates: Sequence[tuple[int, str]],
    *,
    folders: Folders,
    caps: Capabilities,
) -> int:
    """Move second copies of stored messages out of the folder (by their row's status)."""
    groups: dict[str, list[int]] = {}
    for uid, status in duplicates:
        groups.setdefault(folders.target(status), []).append(uid)
    for target, uids in groups.items():
        move(client, uids, target, caps)
    return len(duplicates)
