from datetime import datetime

from sqlmodel import Session, select

from inbound.models import InboundEmail
from inbound.store import store_raw

RAW = b"Message-ID: <abc@x.example>\r\nSubject: \xff\xfe broken\r\n\r\nbody\r\n"


def test_raw_stored_once_before_parsing(session: Session, now: datetime) -> None:
    row, created = store_raw(session, RAW, source="imap:INBOX", now=now, uidvalidity=7, uid=3)
    assert created and row.raw == RAW and row.message_id == "<abc@x.example>"
    again, created = store_raw(session, RAW, source="imap:INBOX", now=now, uidvalidity=7, uid=3)
    assert not created and again.id == row.id
    assert len(session.exec(select(InboundEmail)).all()) == 1
    _, created = store_raw(session, RAW, source="file", now=now)
    assert created


def test_rescan_after_uidvalidity_change_finds_the_stored_row(
    session: Session, now: datetime
) -> None:
    row, created = store_raw(
        session, RAW, source="imap", mailbox="u@h/INBOX", now=now, uidvalidity=7, uid=3
    )
    assert created
    again, created = store_raw(
        session, RAW, source="imap", mailbox="u@h/INBOX", now=now, uidvalidity=8, uid=1
    )
    assert not created and again.id == row.id
    other = RAW.replace(b"body", b"another body")
    _, created = store_raw(
        session, other, source="imap", mailbox="u@h/INBOX", now=now, uidvalidity=8, uid=2
    )
    assert created  # same Message-ID, different bytes: never dropped
