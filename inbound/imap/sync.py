"""Resynchronize one folder by UID: fetch what is new in batches and store it raw.

    SELECT folder            -> UIDVALIDITY, compared with the checkpoint (a change: rescan)
    UID SEARCH UID last+1:*  -> the new UIDs (the server answers the last message again when
                                nothing is newer, so UIDs <= last are dropped)
    UID FETCH n:m RFC822.SIZE -> batches of up to `imap_batch_size` messages and at most
                                `max_message_bytes` bytes; a bigger message is a batch of its
                                own, stored whole, and the pipeline quarantines it (so memory
                                holds one batch, or one oversized message, at a time)
    UID FETCH batch BODY.PEEK[] (PEEK: \\Seen stays untouched)

Each message is stored raw (`inbound.store.store_raw`) before anything parses it; the
checkpoint advances once the whole batch is stored; then the stored rows are enqueued for
processing. A message the store already has is recognized by its UID, or, after a
UIDVALIDITY change, by Message-ID and bytes, or by bytes alone when it has no Message-ID (the
row then records the message's new UID so it can be moved once processed); a second copy of a
message already stored is moved straight out of the folder.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from imapclient import IMAPClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.errors import TransientError
from inbound import store
from inbound.imap import checkpoint
from inbound.imap.connection import mailbox_label
from inbound.models import InboundEmail, InboundStatus

log = logging.getLogger(__name__)

SIZE_CHUNK = 1000  # UIDs per RFC822.SIZE fetch
SOURCE = "imap"


class Interrupted(TransientError):
    """Stop requested (shutdown, or the lease was lost) between two batches."""

    code = "interrupted"


@dataclass
class SyncReport:
    uidvalidity: int
    rescan: bool
    fetched: int = 0
    bytes: int = 0
    created: list[int] = field(default_factory=list)
    enqueued: list[int] = field(default_factory=list)
    # copies of messages already stored, to move out at once: (uid, status of the stored row)
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    last_uid: int = 0
    batches: int = 0


def select_folder(client: IMAPClient, folder: str) -> int:
    """SELECT ``folder`` read-write and return its UIDVALIDITY."""
    info = client.select_folder(folder)
    return int(info[b"UIDVALIDITY"])


def new_uids(client: IMAPClient, last_uid: int) -> list[int]:
    """UIDs above ``last_uid``, ascending (``UID n:*`` also matches the highest UID when
    nothing is above n: that one is filtered out here)."""
    found = client.search(["UID", f"{last_uid + 1}:*"])
    return sorted(int(uid) for uid in found if int(uid) > last_uid)


def fetch_sizes(client: IMAPClient, uids: Sequence[int]) -> dict[int, int]:
    """RFC822.SIZE per UID (a UID expunged meanwhile is simply absent)."""
    sizes: dict[int, int] = {}
    for start in range(0, len(uids), SIZE_CHUNK):
        chunk = list(uids[start : start + SIZE_CHUNK])
        for uid, data in client.fetch(chunk, ["RFC822.SIZE"]).items():
            size = data.get(b"RFC822.SIZE")
            if size is not None:
                sizes[int(uid)] = int(size)
    return sizes


def plan_batches(
    uids: Iterable[int], sizes: dict[int, int], *, batch_size: int, batch_bytes: int
) -> list[list[int]]:
    """Consecutive groups of at most ``batch_size`` messages and ``batch_bytes`` bytes; a
    message bigger than ``batch_bytes`` is a batch of its own."""
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for uid in uids:
        if uid not in sizes:
            continue
        size = sizes[uid]
        if current and (len(current) >= batch_size or total + size > batch_bytes):
            batches.append(current)
            current, total = [], 0
        current.append(uid)
        total += size
    if current:
        batches.append(current)
    return batches


def fetch_bodies(client: IMAPClient, uids: Sequence[int]) -> dict[int, bytes]:
    """The raw bytes of each message (BODY.PEEK[] leaves the \\Seen flag alone)."""
    bodies: dict[int, bytes] = {}
    for uid, data in client.fetch(list(uids), ["BODY.PEEK[]"]).items():
        raw = data.get(b"BODY[]")
        if isinstance(raw, bytes | bytearray):
            bodies[int(uid)] = bytes(raw)
    return bodies


@dataclass(frozen=True)
class Placed:
    """What storing one fetched message did."""

    row_id: int
    status: str
    created: bool
    duplicate: bool  # another copy of a message already stored from this folder


def _same_bytes(session: Session, mailbox: str, raw: bytes) -> InboundEmail | None:
    """A stored message of this folder with exactly these bytes (for mail without a
    Message-ID, which the store cannot recognize after a UIDVALIDITY change)."""
    digest = hashlib.sha256(raw).hexdigest()
    return session.exec(
        select(InboundEmail)
        .where(InboundEmail.mailbox == mailbox, InboundEmail.raw_sha256 == digest)
        .order_by(col(InboundEmail.id))
    ).first()


def place(
    session: Session, raw: bytes, *, mailbox: str, uidvalidity: int, uid: int, now: datetime
) -> Placed:
    """Store one fetched message raw (committed) and reconcile it with what is stored."""
    row: InboundEmail | None = None
    created = False
    if store.cheap_message_id(raw) is None:
        row = _same_bytes(session, mailbox, raw)
    if row is None:
        row, created = store.store_raw(
            session, raw, source=SOURCE, now=now, mailbox=mailbox, uidvalidity=uidvalidity, uid=uid
        )
    assert row.id is not None
    duplicate = False
    if created or (row.uidvalidity == uidvalidity and row.uid == uid):
        pass
    elif row.disposed_at is None and row.uidvalidity != uidvalidity:
        # the folder was renumbered: the same message, at its new UID
        row.uidvalidity = uidvalidity
        row.uid = uid
        session.add(row)
        session.commit()
    else:
        duplicate = True
    return Placed(row.id, row.status, created, duplicate)


def sync_folder(
    client: IMAPClient,
    engine: Engine,
    *,
    mailbox: str,
    folder: str,
    batch_size: int,
    batch_bytes: int,
    clock: Callable[[], datetime],
    enqueue: Callable[[int], None],
    keep_going: Callable[[], bool] = lambda: True,
) -> SyncReport:
    """Store everything new in ``folder`` since the checkpoint; see the module docstring."""
    uidvalidity = select_folder(client, folder)
    position = checkpoint.reconcile(engine, mailbox, uidvalidity, now=clock())
    if position.rescan:
        log.warning(
            "UIDVALIDITY of %s changed to %s: rescanning the folder",
            mailbox_label(mailbox),
            uidvalidity,
        )
    report = SyncReport(uidvalidity=uidvalidity, rescan=position.rescan, last_uid=position.last_uid)
    uids = new_uids(client, position.last_uid)
    if not uids:
        return report
    sizes = fetch_sizes(client, uids)
    for batch in plan_batches(uids, sizes, batch_size=batch_size, batch_bytes=batch_bytes):
        if not keep_going():
            raise Interrupted
        bodies = fetch_bodies(client, batch)
        ready: list[int] = []
        now = clock()
        with Session(engine, expire_on_commit=False) as session:
            for uid in batch:
                raw = bodies.get(uid)
                if raw is None:  # expunged between SEARCH and FETCH
                    continue
                placed = place(
                    session, raw, mailbox=mailbox, uidvalidity=uidvalidity, uid=uid, now=now
                )
                report.fetched += 1
                report.bytes += len(raw)
                if placed.created:
                    report.created.append(placed.row_id)
                if placed.duplicate:
                    log.info(
                        "uid %s of %s is a copy of inbound %s",
                        uid,
                        mailbox_label(mailbox),
                        placed.row_id,
                    )
                    report.duplicates.append((uid, placed.status))
                elif placed.status == InboundStatus.STORED.value:
                    ready.append(placed.row_id)
        checkpoint.advance(
            engine, mailbox, uidvalidity=uidvalidity, last_uid=max(batch), now=clock()
        )
        report.last_uid = max(report.last_uid, max(batch))
        report.batches += 1
        for row_id in ready:
            enqueue(row_id)
        report.enqueued.extend(ready)
    if report.fetched:
        log.info(
            "%s: %d message(s) fetched, %d new, up to uid %d",
            mailbox_label(mailbox),
            report.fetched,
            len(report.created),
            report.last_uid,
        )
    return report
