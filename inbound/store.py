"""Raw first: store a message's bytes before anything parses it.

The dedupe key is the IMAP identity (mailbox, UIDVALIDITY, UID) when there is one, else the
sha256 of the raw bytes. A message already stored from the same mailbox with the same
Message-ID and the same bytes is the same message seen again (after a UIDVALIDITY change, a
rescan finds everything again), so storing it returns the existing row.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from inbound.models import InboundEmail

_MSGID = re.compile(rb"^message-id:[ \t]*(<[^<>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
_HEAD_LIMIT = 256 * 1024


def cheap_message_id(raw: bytes) -> str | None:
    """The Message-ID found by a byte scan of the header block (no MIME parse)."""
    head = raw[:_HEAD_LIMIT].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = _MSGID.search(head)
    return match.group(1).decode("ascii", "replace")[:500] if match else None


def dedupe_key(
    raw: bytes,
    *,
    source: str,
    uidvalidity: int | None,
    uid: int | None,
    mailbox: str | None = None,
) -> str:
    if uidvalidity is not None and uid is not None:
        return f"{source}:{mailbox or ''}:{uidvalidity}:{uid}"
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def _same_message(
    session: Session, mailbox: str, message_id: str, sha256: str
) -> InboundEmail | None:
    return session.exec(
        select(InboundEmail)
        .where(
            InboundEmail.mailbox == mailbox,
            InboundEmail.message_id == message_id,
            InboundEmail.raw_sha256 == sha256,
        )
        .order_by(col(InboundEmail.id))
    ).first()


def store_raw(
    session: Session,
    raw: bytes,
    *,
    source: str,
    now: datetime,
    mailbox: str | None = None,
    uidvalidity: int | None = None,
    uid: int | None = None,
) -> tuple[InboundEmail, bool]:
    """Insert the raw message (committed) and return (row, created)."""
    key = dedupe_key(raw, source=source, uidvalidity=uidvalidity, uid=uid, mailbox=mailbox)
    existing = session.exec(select(InboundEmail).where(InboundEmail.dedupe_key == key)).first()
    if existing is not None:
        return existing, False
    sha256 = hashlib.sha256(raw).hexdigest()
    message_id = cheap_message_id(raw)
    if mailbox is not None and message_id is not None:
        seen = _same_message(session, mailbox, message_id, sha256)
        if seen is not None:
            return seen, False
    row = InboundEmail(
        dedupe_key=key,
        source=source,
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=uid,
        message_id=message_id,
        raw_sha256=sha256,
        raw_size=len(raw),
        raw=raw,
        received_at=now,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # a concurrent writer stored it first
        session.rollback()
        found = session.exec(select(InboundEmail).where(InboundEmail.dedupe_key == key)).one()
        return found, False
    return row, True
