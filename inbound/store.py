"""Raw first: store a message's bytes before anything parses it.

The dedupe key is the IMAP identity (source, UIDVALIDITY, UID) when there is
one, else the sha256 of the raw bytes; storing the same message twice returns
the existing row.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from inbound.models import InboundMessage

_MSGID = re.compile(rb"^message-id:[ \t]*(<[^<>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def cheap_message_id(raw: bytes) -> str | None:
    """The Message-ID found by a byte scan of the header block (no MIME parse)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = _MSGID.search(head)
    return match.group(1).decode("ascii", "replace") if match else None


def dedupe_key(raw: bytes, *, source: str, uidvalidity: int | None, uid: int | None) -> str:
    if uidvalidity is not None and uid is not None:
        return f"{source}:{uidvalidity}:{uid}"
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def store_raw(
    session: Session,
    raw: bytes,
    *,
    source: str,
    now: datetime,
    uidvalidity: int | None = None,
    uid: int | None = None,
) -> tuple[InboundMessage, bool]:
    """Insert the raw message (committed) and return (row, created)."""
    key = dedupe_key(raw, source=source, uidvalidity=uidvalidity, uid=uid)
    existing = session.exec(select(InboundMessage).where(InboundMessage.dedupe_key == key)).first()
    if existing is not None:
        return existing, False
    row = InboundMessage(
        dedupe_key=key,
        source=source,
        uidvalidity=uidvalidity,
        uid=uid,
        message_id=cheap_message_id(raw),
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        raw=raw,
        received_at=now,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # a concurrent writer stored it first
        session.rollback()
        found = session.exec(select(InboundMessage).where(InboundMessage.dedupe_key == key)).one()
        return found, False
    return row, True
