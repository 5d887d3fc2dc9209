"""The email channel end to end against a real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.dispatch import deliver, deliver_many
from comms.email.compose import queue_email
from comms.models import CaseEvent, Delivery
from comms.outbox import claim, clear_suppression, is_suppressed, stale_deliveries
from comms.settings import get_settings
from comms.timeutil import utcnow
from comms.tokens import token_from_address, verify_token
from tests.email.helpers import make_vendor
from tests.support import factory
from tests.support.smtp_server import SmtpTestServer


def _queue(
    db: Engine, now: datetime, *, key: str = "k1", template: str = "deficiency_notice", **vendor_kw
) -> tuple[int, int]:
    with Session(db, expire_on_commit=False) as s:
        vendor = make_vendor(s, now, each_occurrence=500000, **vendor_kw)
        case = factory.case(s, vendor, now=now)
        row, created = queue_email(
            s,
            idempotency_key=key,
            template=template,
            vendor=vendor,
            recipient_kind="vendor",
            now=now,
            case=case,
            step="email-1",
        )
        assert created
        s.commit()
        assert row.id is not None and case.id is not None
        return row.id, case.id


def _row(db: Engine, delivery_id: int) -> Delivery:
    with Session(db) as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None
        s.expunge(row)
        return row


def test_send_over_smtp_headers_parts_and_token(
    db: Engine, smtp: SmtpTestServer, now: datetime
) -> None:
    delivery_id, case_id = _queue(db, now)
    done = deliver(delivery_id, now=now, engine=db)
    assert done is not None and done.status == "sent"
    assert len(smtp.messages) == 1
    got = smtp.messages[0]
    assert got.mail_from == "coi@sender.test"
    assert got.rcpt_tos == ["dana@acme.test"]
    msg = got.message
    row = _row(db, delivery_id)
    assert row.message_id is not None and row.message_id.endswith("@reply.test>")
    assert msg["Message-ID"] == row.message_id
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["From"] == "COI Desk <coi@sender.test>"
    assert msg["Date"]
    token = token_from_address(str(msg["Reply-To"]), local_part="coi")
    assert token is not None and str(msg["Reply-To"]).endswith("@reply.test")
    ids = verify_token(token, get_settings().signing_key())
    assert ids is not None and (ids.case_id, ids.delivery_id) == (case_id, delivery_id)
    assert isinstance(msg, EmailMessage)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "each-occurrence limit is $500,000; $1,000,000 is required" in text.get_content()
    assert "$1,000,000 is required" in html.get_content()
    assert row.status == "sent" and row.sent_at == now and row.attempts == 1
    assert row.provider_message_id and row.provider_message_id.startswith("250")


def test_idempotent_creation_and_sent_row_is_not_sent_again(
    db: Engine, smtp: SmtpTestServer, now: datetime
) -> None:
    delivery_id, _ = _queue(db, now)
    with Session(db) as s:
        vendor = s.get(Delivery, delivery_id)
        assert vendor is not None and vendor.vendor_id is not None
        from comms.models import Vendor

        v = s.get(Vendor, vendor.vendor_id)
        assert v is not None
        again, created = queue_email(
            s, idempotency_key="k1", template="reminder", vendor=v, recipient_kind="vendor", now=now
        )
        assert not created and again.id == delivery_id
        assert len(s.exec(select(Delivery)).all()) == 1
    assert deliver(delivery_id, now=now, engine=db) is not None
    assert deliver(delivery_id, now=now, engine=db) is None
    assert deliver_many([delivery_id, delivery_id], now=now, engine=db) == [None, None]
    assert len(smtp.messages) == 1


def test_in_reply_to_and_cc_vendor_on_agent_request(
    db: Engine, smtp: SmtpTestServer, now: datetime
) -> None:
    with Session(db, expire_on_commit=False) as s:
        vendor = make_vendor(s, now, agent_email="pat@agency.test")
        row, _ = queue_email(
            s,
            idempotency_key="r1",
            template="renewal_request",
            vendor=vendor,
            recipient_kind="agent",
            now=now,
            cc_vendor=True,
            in_reply_to="<orig@agency.test>",
        )
        s.commit()
    assert deliver(row.id or 0, now=now, engine=db) is not None
    got = smtp.messages[0]
    assert got.rcpt_tos == ["pat@agency.test", "dana@acme.test"]
    msg = got.message
    assert msg["Cc"] == "dana@acme.test"
    assert msg["In-Reply-To"] == "<orig@agency.test>" and msg["References"] == "<orig@agency.test>"
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content().startswith("Hello Pat Kim,")


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_550_bounces_suppresses_and_tells_the_workflow(
    db: Engine, smtp: SmtpTestServer, now: datetime, stage: str
) -> None:
    delivery_id, case_id = _queue(db, now)
    if stage == "rcpt":
        smtp.rcpt_replies["dana@acme.test"] = "550 5.1.1 no such user"
    else:
        smtp.next_data_replies.append("554 5.7.1 rejected")
    done = deliver(delivery_id, now=now, engine=db)
    assert done is not None and done.status == "bounced"
    assert smtp.messages == []
    with Session(db) as s:
        assert is_suppressed(s, "email", "Dana@Acme.test")
        events = s.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)).all()
        assert [e.kind for e in events] == ["delivery_bounced"]
        # no email to that address again until staff clear it
        from comms.models import Vendor

        v = s.exec(select(Vendor)).one()
        row, created = queue_email(
            s, idempotency_key="k2", template="reminder", vendor=v, recipient_kind="vendor", now=now
        )
        assert created and row.status == "skipped" and row.error_code == "suppressed"
        assert clear_suppression(s, "email", "dana@acme.test", by="staff", now=now)
        row3, _ = queue_email(
            s, idempotency_key="k3", template="reminder", vendor=v, recipient_kind="vendor", now=now
        )
        assert row3.status == "queued"
        row3_id = row3.id or 0
        s.commit()
    smtp.rcpt_replies.clear()  # the mailbox exists again
    # the pooled connection is still good after the refusal
    assert deliver(row3_id, now=now, engine=db) is not None
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("reply", ["450 4.2.0 mailbox busy", "421 4.3.2 service not available"])
def test_4xx_is_retried_with_backoff(
    db: Engine, smtp: SmtpTestServer, now: datetime, reply: str
) -> None:
    delivery_id, _ = _queue(db, now)
    smtp.next_rcpt_replies.append(reply)
    done = deliver(delivery_id, now=now, engine=db)
    assert (
        done is not None
        and done.status == "queued"
        and done.next_attempt_at == now + timedelta(minutes=1)
    )
    assert done.error_code == f"smtp_{reply[:3]}"
    assert deliver(delivery_id, now=now + timedelta(seconds=30), engine=db) is None  # not due yet
    later = now + timedelta(minutes=2)
    done = deliver(delivery_id, now=later, engine=db)
    assert done is not None and done.status == "sent" and done.attempts == 2
    assert len(smtp.messages) == 1
    with Session(db) as s:
        assert not is_suppressed(s, "email", "dana@acme.test")


def test_reconnects_after_dropped_connections(
    db: Engine, smtp: SmtpTestServer, now: datetime
) -> None:
    ids = [_queue(db, now, key=f"d{i}", name=f"V{i}", email=f"v{i}@acme.test")[0] for i in range(3)]
    assert deliver(ids[0], now=now, engine=db) is not None
    smtp.drop_all()  # the server closes idle pooled connections
    assert deliver(ids[1], now=now, engine=db).status == "sent"  # type: ignore[union-attr]
    smtp.drop_next_mail = True  # the connection dies mid-transaction, before DATA
    assert deliver(ids[2], now=now, engine=db).status == "sent"  # type: ignore[union-attr]
    assert len(smtp.messages) == 3


def test_drop_during_data_is_retried_later_not_immediately(
    db: Engine, smtp: SmtpTestServer, now: datetime
) -> None:
    delivery_id, _ = _queue(db, now)
    smtp.drop_next_data = True
    done = deliver(delivery_id, now=now, engine=db)
    assert done is not None and done.status == "queued" and done.error_code == "disconnected"
    assert deliver(delivery_id, now=now + timedelta(minutes=1), engine=db).status == "sent"  # type: ignore[union-attr]
    assert len(smtp.messages) == 1


def test_pool_reuses_connections(db: Engine, smtp: SmtpTestServer, now: datetime) -> None:
    ids = [
        _queue(db, now, key=f"p{i}", name=f"V{i}", email=f"v{i}@acme.test")[0] for i in range(12)
    ]
    results = deliver_many(ids, now=now, engine=db)
    assert all(r is not None and r.status == "sent" for r in results)
    assert len(smtp.messages) == 12
    assert 1 <= smtp.connections <= 2  # COMMS_SMTP_CONNECTIONS=2


def test_connection_recycled_after_max_per_connection(
    db: Engine, smtp: SmtpTestServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comms.settings import reset_settings_cache

    monkeypatch.setenv("COMMS_SMTP_CONNECTIONS", "1")
    monkeypatch.setenv("COMMS_SMTP_MAX_PER_CONNECTION", "2")
    reset_settings_cache()
    ids = [_queue(db, now, key=f"m{i}", name=f"V{i}", email=f"v{i}@acme.test")[0] for i in range(5)]
    for i in ids:
        assert deliver(i, now=now, engine=db) is not None
    assert len(smtp.messages) == 5 and smtp.connections == 3


def test_crash_between_claim_and_send_yields_one_send(
    db: Engine, smtp: SmtpTestServer, now: datetime
) -> None:
    ids = [_queue(db, now, key=f"c{i}", name=f"V{i}", email=f"v{i}@acme.test")[0] for i in range(4)]
    # a worker claims two rows and dies before sending them
    with Session(db) as s:
        assert claim(s, ids[0], now=now) is not None
        assert claim(s, ids[1], now=now) is not None
    # another worker processes the batch: the claimed rows are not its to send
    results = deliver_many(ids, now=now, engine=db)
    assert [r is not None for r in results] == [False, False, True, True]
    assert len(smtp.messages) == 2
    # the lease runs out, the sweep re-queues them, and they are sent once
    later = now + timedelta(minutes=6)
    with Session(db) as s:
        due = stale_deliveries(s, now=later, wall=utcnow() + timedelta(minutes=6))
        s.commit()
    assert sorted(due) == sorted(ids[:2])
    deliver_many(due + ids, now=later, engine=db)
    deliver_many(due + ids, now=later, engine=db)
    rcpts = sorted(m.rcpt_tos[0] for m in smtp.messages)
    assert rcpts == sorted(f"v{i}@acme.test" for i in range(4))


def test_file_outbox_without_smtp_host(
    db: Engine, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comms.settings import reset_settings_cache

    outbox = tmp_path / "outbox"
    monkeypatch.setenv("COMMS_OUTBOX_DIR", str(outbox))
    reset_settings_cache()
    delivery_id, case_id = _queue(db, now)
    done = deliver(delivery_id, now=now, engine=db)
    assert done is not None and done.status == "sent"
    files = sorted(p.name for p in outbox.iterdir())
    assert files == [f"{delivery_id}.eml"]
    from email import message_from_bytes, policy

    msg = message_from_bytes((outbox / files[0]).read_bytes(), policy=policy.default)
    assert msg["Message-ID"] == done.message_id
    assert msg["Auto-Submitted"] == "auto-generated"
    token = token_from_address(str(msg["Reply-To"]), local_part="coi")
    ids = verify_token(token or "", get_settings().signing_key())
    assert ids is not None and ids.delivery_id == delivery_id and ids.case_id == case_id


def test_vendor_without_address_gets_a_skipped_row(db: Engine, now: datetime) -> None:
    with Session(db, expire_on_commit=False) as s:
        vendor = make_vendor(s, now, email=None)
        row, created = queue_email(
            s,
            idempotency_key="n1",
            template="reminder",
            vendor=vendor,
            recipient_kind="vendor",
            now=now,
        )
        s.commit()
    assert created and row.status == "skipped" and row.error_code == "no_address"
    assert deliver(row.id or 0, now=now, engine=db) is None


def test_crash_after_server_accepted_is_the_documented_window(
    db: Engine, smtp: SmtpTestServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after the server accepted the message but before the row says sent:
    the lease expires, the sweep re-queues it, and it is sent again with the same Message-ID."""
    import comms.dispatch as dispatch_mod

    delivery_id, _ = _queue(db, now)

    def crash(*args: object, **kwargs: object) -> None:
        raise SystemError("killed before apply_outcome")

    monkeypatch.setattr(dispatch_mod, "record_outcome", crash)
    with pytest.raises(SystemError):
        deliver(delivery_id, now=now, engine=db)
    monkeypatch.undo()
    assert _row(db, delivery_id).status == "sending"
    assert deliver(delivery_id, now=now + timedelta(minutes=1), engine=db) is None  # leased
    later = now + timedelta(minutes=6)
    with Session(db) as s:
        assert stale_deliveries(s, now=later, wall=utcnow() + timedelta(minutes=6)) == [delivery_id]
        s.commit()
    assert deliver(delivery_id, now=later, engine=db).status == "sent"  # type: ignore[union-attr]
    ids = [m.message["Message-ID"] for m in smtp.messages]
    assert len(ids) == 2 and ids[0] == ids[1] == _row(db, delivery_id).message_id


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_auth(db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    from comms.settings import reset_settings_cache

    with SmtpTestServer(credentials=("mailer", "s3cret-pass")) as server:
        monkeypatch.setenv("COMMS_SMTP_HOST", server.host)
        monkeypatch.setenv("COMMS_SMTP_PORT", str(server.port))
        monkeypatch.setenv("COMMS_SMTP_USERNAME", "mailer")
        monkeypatch.setenv("COMMS_SMTP_PASSWORD", "s3cret-pass")
        reset_settings_cache()
        delivery_id, _ = _queue(db, now)
        assert deliver(delivery_id, now=now, engine=db).status == "sent"  # type: ignore[union-attr]
        assert server.logins == ["mailer"] and len(server.messages) == 1
        monkeypatch.setenv("COMMS_SMTP_PASSWORD", "wrong-pass-xyz")
        # aiosmtpd 1.4 does not answer a refused AUTH LOGIN; a short timeout ends the wait
        monkeypatch.setenv("COMMS_SMTP_TIMEOUT", "1")
        reset_settings_cache()
        other, _ = _queue(db, now, key="k2", name="Other", email="o@acme.test")
        done = deliver(other, now=now, engine=db)
        assert done is not None and done.status == "queued" and done.error_code == "connect"
        assert len(server.messages) == 1


async def test_deliver_async_uses_the_running_loop(
    sqlite_db: Engine, smtp: SmtpTestServer, now: datetime
) -> None:
    from comms.dispatch import aclose_senders, deliver_async, deliver_many_async

    ids = [
        _queue(sqlite_db, now, key=f"a{i}", name=f"V{i}", email=f"v{i}@acme.test")[0]
        for i in range(3)
    ]
    first = await deliver_async(ids[0], now=now, engine=sqlite_db)
    rest = await deliver_many_async(ids, now=now, engine=sqlite_db)
    await aclose_senders()
    assert first is not None and first.status == "sent"
    assert [r is not None for r in rest] == [False, True, True]
    assert len(smtp.messages) == 3 and smtp.connections <= 2


def test_a_server_that_stops_answering_times_out(
    db: Engine, smtp: SmtpTestServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One deadline covers the whole SMTP transaction: a server silent after the message is
    given up on, the connection dropped, and the row retried later on a fresh connection."""
    from comms.settings import reset_settings_cache

    monkeypatch.setenv("COMMS_SMTP_TIMEOUT", "2")
    reset_settings_cache()
    delivery_id, _ = _queue(db, now)
    smtp.stall_next_data = 5.0
    done = deliver(delivery_id, now=now, engine=db)
    assert done is not None and done.status == "queued" and done.error_code == "disconnected"
    assert "DATA" in (done.error or "")
    opened = smtp.connections
    later = now + timedelta(minutes=1)
    assert deliver(delivery_id, now=later, engine=db).status == "sent"  # type: ignore[union-attr]
    assert smtp.connections == opened + 1
