"""The IMAP listener against a real Dovecot: store once, checkpoint, process, move (MOVE and
the COPY + \\Deleted + UID EXPUNGE fallback), UIDVALIDITY changes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from imapclient import DELETED, SEEN
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.models import Certificate
from comms.settings import Settings
from inbound.imap.listener import Listener, PassReport
from inbound.imap.sync import new_uids
from inbound.models import InboundEmail
from tests.inbound.conftest import make_world, reply
from tests.inbound.imap_support import (
    agent_reply,
    checkpoint,
    clock,
    crlf,
    imap_settings,
    process,
    reply_events,
    rows,
    stranger,
)
from tests.support.dovecot import Dovecot, shared_server

pytestmark = pytest.mark.dovecot

NO_MOVE = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS UNSELECT CHILDREN"


@pytest.fixture(scope="module")
def server() -> Dovecot:
    return shared_server()


@pytest.fixture
def user(server: Dovecot) -> str:
    return server.add_user()


def one_pass(
    engine: Engine,
    cfg: Settings,
    *,
    process_ids: Callable[[list[int]], list[int]] | None = lambda ids: ids,
) -> tuple[PassReport, list[int]]:
    """One `run_once` pass; the stored rows it enqueued are processed (all of them, or the
    ones ``process_ids`` picks; None: none) before the move step."""
    enqueued: list[int] = []
    listener = Listener(
        settings=cfg, engine=engine, stop=threading.Event(), enqueue=enqueued.append, clock=clock
    )

    def settle() -> None:
        if process_ids is not None:
            for inbound_id in process_ids(enqueued):
                process(engine, cfg, inbound_id)

    return listener.run_once(settle=settle), enqueued


def oversized(n: int, size: int) -> bytes:
    blob = ("x" * 76 + "\n") * (size // 77 + 1)
    return agent_reply(n, text="Big one.\n" + blob)


def test_each_message_stored_once_processed_and_moved(
    server: Dovecot, user: str, db: Engine
) -> None:
    world = make_world(db)
    cfg = imap_settings(server, user, imap_batch_size=2, max_message_bytes=200_000)
    raws = [agent_reply(1, certificate=True), agent_reply(2), stranger(3), oversized(4, 300_000)]
    assert server.append_many(user, raws) == [1, 2, 3, 4]

    report, enqueued = one_pass(db, cfg)

    assert (report.fetched, len(report.created), report.moved) == (4, 4, 4)
    stored = rows(db)
    assert [r.uid for r in stored] == [1, 2, 3, 4]
    assert sorted(enqueued) == [r.id for r in stored]
    assert {r.uidvalidity for r in stored} == {server.uidvalidity(user)}
    assert {r.mailbox for r in stored} == {f"{user}@{server.host}/INBOX"}
    assert [r.raw for r in stored] == raws  # the bytes exactly as appended
    assert [r.status for r in stored] == ["processed", "processed", "review", "quarantined"]
    assert "over COMMS_MAX_MESSAGE_BYTES" in (stored[3].quarantine_reason or "")
    assert all(r.disposed_at is not None and r.attempts == 1 for r in stored)
    assert stored[0].vendor_id == world.vendor_id
    with Session(db) as s:
        certs = s.exec(select(Certificate).where(col(Certificate.source) != "roster")).all()
    assert len(certs) == 1

    point = checkpoint(db)
    assert point is not None and point.last_uid == 4
    assert server.count(user, "INBOX") == 0
    assert sorted(server.messages(user, "Processed").values()) == sorted(raws[:3])
    assert list(server.messages(user, "Quarantine").values()) == [raws[3]]
    # BODY.PEEK[]: the listener never marked anything \Seen
    client = server.client(user)
    client.select_folder("Processed", readonly=True)
    flags = client.get_flags(client.search(["ALL"]))
    client.logout()
    assert all(SEEN not in f for f in flags.values())

    again, enqueued_again = one_pass(db, cfg)
    assert (again.fetched, again.created, again.moved, enqueued_again) == (0, [], 0, [])
    assert len(rows(db)) == 4


def test_uid_search_past_the_end_returns_the_last_message_which_is_skipped(
    server: Dovecot, user: str, sqlite_db: Engine
) -> None:
    make_world(sqlite_db)
    cfg = imap_settings(server, user)
    server.append(user, agent_reply(1))
    first, _ = one_pass(sqlite_db, cfg, process_ids=None)  # stored, not processed yet
    assert (first.fetched, len(first.created), first.moved) == (1, 1, 0)

    client = server.client(user)
    client.select_folder("INBOX")
    assert client.search(["UID", "2:*"]) == [1]  # the server's answer past the end
    assert new_uids(client, 1) == []
    client.logout()

    second, enqueued = one_pass(sqlite_db, cfg)
    assert (second.fetched, second.created, second.moved) == (0, [], 1)
    assert enqueued == [rows(sqlite_db)[0].id]  # stored earlier, never processed: enqueued
    assert len(rows(sqlite_db)) == 1


def test_without_move_copy_deleted_and_uid_expunge_touch_only_our_messages(
    sqlite_db: Engine,
) -> None:
    make_world(sqlite_db)
    with Dovecot(capabilities=NO_MOVE) as old:
        user = old.add_user()
        cfg = imap_settings(old, user)
        old.append_many(user, [agent_reply(1), agent_reply(2)])
        one_pass(sqlite_db, cfg, process_ids=None)
        # someone else flags message 2 \Deleted: UID EXPUNGE of our message must not purge it
        client = old.client(user)
        client.select_folder("INBOX")
        client.add_flags([2], [DELETED])
        client.logout()

        report, _ = one_pass(sqlite_db, cfg, process_ids=lambda ids: [rows(sqlite_db)[0].id or 0])

        assert report.moved == 1
        assert list(old.messages(user, "INBOX")) == [2]
        assert list(old.messages(user, "Processed").values()) == [agent_reply(1)]
        first, second = rows(sqlite_db)
        assert first.disposed_at is not None and second.disposed_at is None


def test_uidvalidity_change_rescans_and_recognizes_stored_mail(
    server: Dovecot, user: str, sqlite_db: Engine
) -> None:
    make_world(sqlite_db)
    cfg = imap_settings(server, user)
    no_id = crlf(reply(message_id="", text="No Message-ID on this one."))
    no_id = b"".join(line for line in no_id.splitlines(keepends=True) if b"Message-ID" not in line)
    raws = [agent_reply(1), agent_reply(2), no_id]
    server.append_many(user, raws)
    # first pass: all three stored, only the first processed (and moved)
    one_pass(sqlite_db, cfg, process_ids=lambda ids: ids[:1])
    stored_ids = [r.id for r in rows(sqlite_db)]
    old_validity = server.uidvalidity(user)
    server.set_uidvalidity(user, "INBOX", old_validity + 1000)

    report, _ = one_pass(sqlite_db, cfg)

    assert report.rescan and report.fetched == 2 and report.created == []
    stored = rows(sqlite_db)
    assert [r.id for r in stored] == stored_ids
    assert all(r.attempts == 1 and r.status == "processed" for r in stored)
    assert [r.uidvalidity for r in stored] == [old_validity] + [old_validity + 1000] * 2
    point = checkpoint(sqlite_db)
    assert point is not None and (point.uidvalidity, point.last_uid) == (old_validity + 1000, 3)
    assert server.count(user, "INBOX") == 0 and server.count(user, "Processed") == 3
    assert reply_events(sqlite_db) == {i: 1 for i in stored_ids}


def test_restored_folder_copies_are_moved_not_processed_again(
    server: Dovecot, user: str, sqlite_db: Engine
) -> None:
    make_world(sqlite_db)
    cfg = imap_settings(server, user, imap_folder="Agents")
    raws = [agent_reply(1), agent_reply(2)]
    server.append_many(user, raws, "Agents")
    one_pass(sqlite_db, cfg)
    # the folder is deleted and restored from a backup: new UIDVALIDITY, same messages
    client = server.client(user)
    client.delete_folder("Agents")
    client.logout()
    server.append_many(user, raws, "Agents")

    report, enqueued = one_pass(sqlite_db, cfg)

    assert (report.rescan, report.fetched, report.created, enqueued) == (True, 2, [], [])
    assert report.moved == 2
    assert len(rows(sqlite_db)) == 2
    assert all(r.attempts == 1 for r in rows(sqlite_db))
    assert server.count(user, "Agents") == 0 and server.count(user, "Processed") == 4


def _ids(found: Any) -> list[int]:
    return [int(i) for i in found]


def test_message_expunged_by_someone_else_is_not_an_error(
    server: Dovecot, user: str, sqlite_db: Engine
) -> None:
    make_world(sqlite_db)
    cfg = imap_settings(server, user)
    server.append_many(user, [agent_reply(1), agent_reply(2)])
    one_pass(sqlite_db, cfg, process_ids=None)
    client = server.client(user)
    client.select_folder("INBOX")
    client.add_flags([1], [DELETED])
    client.expunge()
    client.logout()
    report, _ = one_pass(sqlite_db, cfg)  # message 1 is gone from the folder: its move is a no-op
    assert report.moved == 2
    assert _ids(server.messages(user, "Processed")) == [1]
    with Session(sqlite_db) as s:
        assert all(r.disposed_at for r in s.exec(select(InboundEmail)))


def test_connections_skip_imaplib_debug_formatting(server: Dovecot, user: str) -> None:
    """IMAPClient sets imaplib's trace to its highest level, which formats every message
    fetched for the debug log (whole messages in logs, most of a FETCH's time)."""
    from inbound.imap.connection import Mailbox, connect

    cfg = imap_settings(server, user)
    client = connect(Mailbox.from_settings(cfg))
    try:
        assert client._imap.debug == 0
        assert client.noop()
    finally:
        client.logout()
