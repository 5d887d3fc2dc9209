"""The end of a delivery stream: no outcome stays only in memory, whatever was under way when
it ended (the ticker's write, an outage backoff), when a sender failed while others were
sending, when the journal could not be written, or when the whole stream was cancelled.

Deterministic: the database writes and the sends wait on events the test sets, never on time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

import comms.delivery_batch as batch_mod
from comms.channels import SendOutcome
from comms.delivery_batch import stream_deliveries
from comms.email.compose import EmailRequest, queue_emails
from comms.models import CaseEvent, Delivery
from comms.outbox_journal import Journal, recover_journals
from comms.settings import get_settings
from tests.email.helpers import make_vendor
from tests.support import factory

WAIT = 60.0  # a bound against a hang only: every wait below is ended by an event


def _queued(db: Engine, now: datetime, count: int) -> tuple[list[int], int]:
    """`count` reminders queued, each to a vendor with an open case; their ids and the case
    of the first."""
    with Session(db, expire_on_commit=False) as s:
        vendors = [
            make_vendor(s, now, name=f"End{i}", email=f"end{i}@acme.test") for i in range(count)
        ]
        cases = [factory.case(s, v, now=now) for v in vendors]
        created = queue_emails(
            s,
            [
                EmailRequest(
                    idempotency_key=f"end:{v.id}", template="reminder", vendor=v, case_id=c.id
                )
                for v, c in zip(vendors, cases, strict=True)
            ],
            now=now,
            settings=get_settings(),
        )
        s.commit()
    return [c.id for c in created if c.id is not None], cases[0].id or 0


def _stream(
    db: Engine, ids: list[int], send: Callable[[Delivery], Awaitable[SendOutcome]], now: datetime
) -> Coroutine[Any, Any, dict[int, Delivery]]:
    return stream_deliveries(
        db, ids, send, now=now, settings=get_settings(), concurrency=len(ids), batch=50
    )


def _sent(row: Delivery) -> SendOutcome:
    return SendOutcome("sent", provider_message_id="250 2.0.0 ok", message_id=f"<{row.id}@t>")


def _statuses(db: Engine, ids: list[int]) -> dict[int, str]:
    with Session(db) as s:
        rows = s.exec(select(Delivery).where(col(Delivery.id).in_(ids))).all()
        return {r.id or 0: r.status for r in rows}


def _failure_events(db: Engine, case_id: int) -> int:
    with Session(db) as s:
        events = s.exec(select(CaseEvent).where(col(CaseEvent.case_id) == case_id)).all()
        return sum(1 for e in events if e.kind == "delivery_failed")


def _journals() -> list[str]:
    folder = get_settings().journal_dir
    return sorted(p.name for p in folder.glob("outcomes-*")) if folder.is_dir() else []


def _outage() -> OperationalError:
    return OperationalError("UPDATE delivery", {}, ConnectionRefusedError("refused"))


Write = Callable[..., tuple[list[Delivery], float]]


@pytest.mark.parametrize("mode", ["write completes", "write fails", "outage backoff"])
def test_ticker_cancelled_mid_record_every_outcome_recorded(
    db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The stream ends (its senders done) while the ticker is inside a record: its write
    blocked (and then completing or failing), or its backoff after an outage. The ticker is
    cancelled; the last record still writes every outcome, and an outcome the cancelled write
    had already stored is not applied twice (one failure event, not two)."""
    ids, case_id = _queued(db, now, 4)
    first = ids[0]
    blocked = threading.Event()  # the ticker's first write of outcomes has begun
    ended = threading.Event()  # the ticker was cancelled: the stream is at its end
    real_write: Write = batch_mod._Stream._write
    real_ticker = batch_mod._Stream.ticker

    def write(
        stream: Any, conn: Connection, rendered: Any, done: Any, others: Any, renew: Any
    ) -> tuple[list[Delivery], float]:
        if (done or others) and not ended.is_set():  # the ticker's: nobody else records yet
            blocked.set()
            if mode == "outage backoff":
                raise _outage()
            assert ended.wait(WAIT), "the ticker was not cancelled"
            if mode == "write fails":
                raise _outage()
        return real_write(stream, conn, rendered, done, others, renew)

    async def ticker(stream: Any) -> None:
        try:
            await real_ticker(stream)
        except asyncio.CancelledError:
            ended.set()
            raise

    async def send(row: Delivery) -> SendOutcome:
        if row.id == first:  # refused for good: recorded with a failure event on its case
            return SendOutcome("failed", error="554 5.7.1 rejected", error_code="smtp_554")
        assert await asyncio.to_thread(blocked.wait, WAIT), "the ticker never wrote"
        return _sent(row)

    monkeypatch.setattr(batch_mod._Stream, "_write", write)
    monkeypatch.setattr(batch_mod._Stream, "ticker", ticker)
    monkeypatch.setattr(batch_mod, "RECORD_SECONDS", 0.001)
    handled = asyncio.run(_stream(db, ids, send, now))
    assert ended.is_set()  # the case under test did happen
    assert _statuses(db, ids) == {first: "failed", **{i: "sent" for i in ids[1:]}}
    assert set(handled) == set(ids)
    assert _failure_events(db, case_id) == 1
    assert _journals() == []  # every accepted send is in the database: nothing to recover


def test_a_failing_sender_waits_for_the_others_replies(
    db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One sender's record fails for good (not an outage) while another sender's message is
    on the wire. The stream waits for that reply and keeps it in the journal it leaves for
    the sweep, so the recovery marks every accepted message sent: none is sent again."""
    ids, _ = _queued(db, now, 2)
    first = ids[0]
    accepted: list[int] = []
    real_write: Write = batch_mod._Stream._write
    real_work = batch_mod._Stream.work

    def write(
        stream: Any, conn: Connection, rendered: Any, done: Any, others: Any, renew: Any
    ) -> tuple[list[Delivery], float]:
        if done:
            raise SystemError("the database refused the outcomes")
        return real_write(stream, conn, rendered, done, others, renew)

    async def scenario() -> None:
        second = asyncio.Event()  # both messages are on the wire
        failed = asyncio.Event()  # the first sender has failed and ended

        async def work(stream: Any, ready: Any) -> None:
            try:
                await real_work(stream, ready)
            finally:
                failed.set()

        async def send(row: Delivery) -> SendOutcome:
            accepted.append(row.id or 0)  # the server has the message; its reply is on the way
            if row.id == first:
                await second.wait()
            else:
                second.set()
                await failed.wait()
                for _ in range(50):  # the reply comes well after: the stream has moved on
                    await asyncio.sleep(0)
            return _sent(row)

        monkeypatch.setattr(batch_mod._Stream, "work", work)
        await _stream(db, ids, send, now)

    monkeypatch.setattr(batch_mod._Stream, "_write", write)
    monkeypatch.setattr(batch_mod, "RECORD_EVERY", 1)  # a sender records after each send
    with pytest.raises(SystemError):
        asyncio.run(scenario())
    assert sorted(accepted) == sorted(ids)
    assert _statuses(db, ids) == {i: "sending" for i in ids}
    assert recover_journals(db, get_settings().journal_dir, now=now) == len(ids)
    assert _statuses(db, ids) == {i: "sent" for i in ids}
    assert _journals() == []


def test_a_failed_last_record_leaves_the_replies_to_the_sweep(
    db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream's last record fails for good: its error is raised, and the journal it
    leaves has every accepted send, so the sweep's recovery marks them all sent."""
    ids, _ = _queued(db, now, 3)
    real_write: Write = batch_mod._Stream._write

    def write(
        stream: Any, conn: Connection, rendered: Any, done: Any, others: Any, renew: Any
    ) -> tuple[list[Delivery], float]:
        if done:
            raise SystemError("the database refused the outcomes")
        return real_write(stream, conn, rendered, done, others, renew)

    async def send(row: Delivery) -> SendOutcome:
        return _sent(row)

    monkeypatch.setattr(batch_mod._Stream, "_write", write)
    monkeypatch.setattr(batch_mod, "RECORD_SECONDS", 3600.0)  # only the last record writes
    with pytest.raises(SystemError):
        asyncio.run(_stream(db, ids, send, now))
    assert _statuses(db, ids) == {i: "sending" for i in ids}
    assert recover_journals(db, get_settings().journal_dir, now=now) == len(ids)
    assert _statuses(db, ids) == {i: "sent" for i in ids}


def test_a_journal_that_cannot_be_written_loses_no_outcome(
    db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's disk is full: the send the server accepted is still recorded."""
    ids, _ = _queued(db, now, 3)

    def full(self: Journal, *args: object) -> None:
        raise OSError(28, "No space left on device")

    async def send(row: Delivery) -> SendOutcome:
        return _sent(row)

    monkeypatch.setattr(Journal, "add", full)
    handled = asyncio.run(_stream(db, ids, send, now))
    assert _statuses(db, ids) == {i: "sent" for i in ids}
    assert set(handled) == set(ids)


def test_a_cancelled_stream_records_the_replies_it_was_waiting_for(
    db: Engine, now: datetime
) -> None:
    """The whole stream is cancelled while its senders wait for the servers' replies: the
    cancellation waits for those replies, records them, and is then raised."""
    ids, _ = _queued(db, now, 3)

    async def scenario() -> None:
        on_the_wire = asyncio.Event()
        reply = asyncio.Event()
        waiting: list[int] = []

        async def send(row: Delivery) -> SendOutcome:
            waiting.append(row.id or 0)
            if len(waiting) == len(ids):
                on_the_wire.set()
            await reply.wait()
            return _sent(row)

        task = asyncio.ensure_future(_stream(db, ids, send, now))
        await on_the_wire.wait()
        task.cancel()
        reply.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert _statuses(db, ids) == {i: "sent" for i in ids}
    assert _journals() == []


def test_a_stream_cancelled_while_it_claims_records_what_it_sent(
    db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled while it claims its second batch: the outcomes of the rows sent are recorded,
    the others are left `queued` or `sending` (for the sweep), none is sent twice."""
    ids, _ = _queued(db, now, 6)
    sent: list[int] = []
    real_claim = batch_mod._Stream.claim

    async def scenario() -> None:
        second = asyncio.Event()

        async def claim(stream: Any, chunk: Any) -> Any:
            if chunk[0] != ids[0]:
                second.set()
                await asyncio.Event().wait()  # cancelled here
            return await real_claim(stream, chunk)

        async def send(row: Delivery) -> SendOutcome:
            sent.append(row.id or 0)
            return _sent(row)

        monkeypatch.setattr(batch_mod._Stream, "claim", claim)
        task = asyncio.ensure_future(
            stream_deliveries(
                db, ids, send, now=now, settings=get_settings(), concurrency=2, batch=3
            )
        )
        await second.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    statuses = _statuses(db, ids)
    assert len(sent) == len(set(sent)) and set(sent) <= set(ids[:3])
    assert all(statuses[i] == "sent" for i in sent)
    assert all(statuses[i] in ("queued", "sending") for i in ids if i not in sent)
    assert _journals() == []
