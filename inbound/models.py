"""Tables of the inbound package.

`InboundEmail` holds every received message's raw bytes, stored before anything parses them;
`ImapCheckpoint` remembers, per mailbox, the UIDVALIDITY and the last UID stored; `MailboxLease`
makes sure only one listener reads a mailbox at a time.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, false
from sqlalchemy.orm import QueryableAttribute, defer
from sqlalchemy.orm.strategy_options import _AbstractLoad
from sqlmodel import Field, SQLModel

from comms.models.base import created_field, json_field, ts_field


class InboundStatus(enum.StrEnum):
    STORED = "stored"  # raw bytes saved, waiting for the processing job
    PROCESSING = "processing"  # a worker holds it (until lease_until)
    PROCESSED = "processed"  # done; the result says what happened
    REVIEW = "review"  # done, but it matched nothing: on the staff review list
    QUARANTINED = "quarantined"  # failed with a reason; `comms inbound retry` runs it again


DONE_STATUSES = frozenset(
    {InboundStatus.PROCESSED.value, InboundStatus.REVIEW.value, InboundStatus.QUARANTINED.value}
)


class InboundEmail(SQLModel, table=True):
    """One received message, raw first; ``dedupe_key`` makes a second store a no-op."""

    __tablename__ = "inbound_email"
    __table_args__ = (Index("ix_inbound_email_mailbox_uid", "mailbox", "uidvalidity", "uid"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, index=True)
    source: str  # "imap", "dropbox", "file"
    mailbox: str | None = None  # the IMAP mailbox (user@host/folder) or the drop folder
    uidvalidity: int | None = None
    uid: int | None = None
    message_id: str | None = Field(default=None, index=True)
    raw_sha256: str
    raw_size: int = 0
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default=InboundStatus.STORED.value, index=True)
    attempts: int = 0
    lease_until: datetime | None = ts_field()
    classification: str | None = None  # reply | bounce | auto_reply | unmatched
    quarantine_reason: str | None = None
    quarantine_code: str | None = None  # a `comms.failures` code: why, for a program
    quarantine_permanent: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    sender: str | None = None
    subject: str | None = None
    vendor_id: int | None = Field(default=None, foreign_key="vendor.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    match_method: str | None = None
    reply_text: str | None = None
    result: dict[str, Any] = json_field()
    received_at: datetime = created_field()
    processed_at: datetime | None = ts_field()
    disposed_at: datetime | None = ts_field()  # moved out of the IMAP folder (or the drop folder)
    reviewed_at: datetime | None = ts_field()
    reviewed_by: str | None = None


def raw_deferred() -> _AbstractLoad:
    """A load option: an `InboundEmail`'s raw bytes are read when first used, not with the row
    (a size check, a listing or a retry never holds a large message)."""
    raw: QueryableAttribute[bytes] = InboundEmail.raw  # type: ignore[assignment]
    return defer(raw)


class ImapCheckpoint(SQLModel, table=True):
    """How far a mailbox folder has been read: its UIDVALIDITY and the last UID stored."""

    __tablename__ = "imap_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(unique=True)
    uidvalidity: int
    last_uid: int = 0
    updated_at: datetime = created_field()


class MailboxLease(SQLModel, table=True):
    """Held by the one listener that reads a mailbox; renewed while it runs."""

    __tablename__ = "mailbox_lease"

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(unique=True)
    holder: str
    acquired_at: datetime = created_field()
    expires_at: datetime = created_field()
