"""Many emails at once: bulk outbox rows, batch template contexts, the delivery stream."""

from __future__ import annotations

from datetime import datetime, timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.context import ContextRequest, VendorGone, template_context, template_contexts
from comms.dispatch import deliver_many
from comms.email.compose import EmailRequest, queue_emails
from comms.models import Agent, Case, CaseEvent, Delivery, Vendor
from comms.outbox import suppress
from comms.settings import get_settings
from comms.templating import TemplateNotFound
from comms.timeutil import utcnow
from comms.tokens import token_from_address, verify_token
from tests.email.helpers import make_vendor
from tests.support import factory
from tests.support.smtp_server import SmtpTestServer


def _vendors(s: Session, now: datetime) -> list[Vendor]:
    """Vendors that differ in everything a context reads."""
    plain = make_vendor(s, now, name="Plain Co", email="plain@acme.test")
    short = make_vendor(s, now, name="Short Limits", email="short@acme.test", each_occurrence=5)
    agent = make_vendor(
        s, now, name="With Agent", email="agent-v@acme.test", agent_email="pat@agency.test"
    )
    bare = factory.vendor(s, name="No Profile", contact_name=None, email="bare@acme.test")
    # a newer accepted certificate and a pending one: the newest accepted is the context's
    newer = factory.certificate(s, short, received_at=now + timedelta(hours=1), reference="B")
    pending = factory.certificate(
        s, short, received_at=now + timedelta(hours=2), status="needs_review"
    )
    for cert, number in ((newer, "WC-1"), (pending, "WC-2")):
        factory.policy(
            s,
            cert,
            coverage="workers_compensation",
            number=number,
            expires=(now + timedelta(days=200)).date(),
            effective=None,
            limits={"el_each_accident": 500000},
            additional_insured=None,
        )
    return [plain, short, agent, bare]


def _queued_reminders(db: Engine, now: datetime, tag: str, count: int) -> list[int]:
    """Queue a reminder to each of `count` new vendors (`{tag}{i}@acme.test`); their ids."""
    with Session(db, expire_on_commit=False) as s:
        vendors = [
            make_vendor(s, now, name=f"{tag}{i}", email=f"{tag}{i}@acme.test") for i in range(count)
        ]
        created = queue_emails(
            s,
            [
                EmailRequest(idempotency_key=f"{tag}:{v.id}", template="reminder", vendor=v)
                for v in vendors
            ],
            now=now,
            settings=get_settings(),
        )
        s.commit()
    return [c.id for c in created]


def test_contexts_of_many_requests_equal_each_asked_alone(db: Engine, now: datetime) -> None:
    """One loader: asked for many ids at once, each context is the one it gives for that id
    alone (nothing leaks between vendors, cases or moments of one load)."""
    settings = get_settings()
    with Session(db, expire_on_commit=False) as s:
        vendors = _vendors(s, now)
        case = factory.case(s, vendors[1], now=now)
        assert case.id is not None
        for i in range(25):  # more history than a context shows
            s.add(CaseEvent(case_id=case.id, at=now + timedelta(minutes=i), kind=f"k{i}"))
        s.commit()
        requests = [
            ContextRequest(vendor_id=v.id or 0, as_of=now, recipient_kind=kind)
            for v in vendors
            for kind in ("vendor", "agent")
        ]
        later = now + timedelta(days=400)  # past every expiration: another verdict
        requests += [
            ContextRequest(vendor_id=vendors[1].id or 0, as_of=later, case_id=case.id),
            ContextRequest(vendor_id=vendors[1].id or 0, as_of=now, case_id=case.id),
            ContextRequest(vendor_id=987654, as_of=now),
        ]
        got = template_contexts(s, requests, settings=settings)
        for request, context in zip(requests, got, strict=True):
            vendor = s.get(Vendor, request.vendor_id)
            if vendor is None:
                assert isinstance(context, VendorGone)
                continue
            case_row = s.get(Case, request.case_id) if request.case_id else None
            expected = template_context(
                s,
                vendor,
                now=request.as_of,
                case=case_row,
                recipient_kind=request.recipient_kind,
                settings=settings,
            )
            assert context == expected, (vendor.name, request)
        by_case = got[-2]
        assert isinstance(by_case, dict) and len(by_case["case"]["history"]) == 20
        assert by_case["case"]["history"][-1]["kind"] == "k24"
        assert by_case["certificate"]["reference"] == "B"
        assert got[-3]["status"] != by_case["status"]  # type: ignore[index]


def test_queue_emails_rows_rules_and_idempotency(db: Engine, now: datetime) -> None:
    settings = get_settings()
    with Session(db, expire_on_commit=False) as s:
        ok = make_vendor(s, now, name="Ok", email="ok@acme.test")
        gone = make_vendor(s, now, name="Suppressed", email="Gone@Acme.test")
        none = make_vendor(s, now, name="No Address", email=None)
        suppress(s, "email", "gone@acme.test", reason="550", now=now)
        requests = [
            EmailRequest(idempotency_key=f"r:{v.name}", template="reminder", vendor=v)
            for v in (ok, gone, none)
        ]
        requests.append(requests[0])  # the same key twice in one call
        created = queue_emails(s, requests, now=now, settings=settings)
        s.commit()
        assert [c.created for c in created] == [True, True, True, False]
        assert created[0].id == created[3].id
        again = queue_emails(s, requests[:2], now=now, settings=settings)
        assert [c.created for c in again] == [False, False]
        assert [c.id for c in again] == [c.id for c in created[:2]]
        rows = {r.recipient_kind + ":" + (r.recipient or "-"): r for r in s.exec(select(Delivery))}
        assert len(rows) == 3
        assert rows["vendor:ok@acme.test"].status == "queued"
        assert rows["vendor:ok@acme.test"].subject is None  # rendered at its first send
        assert rows["vendor:Gone@Acme.test"].error_code == "suppressed"
        assert rows["vendor:-"].status == "skipped" and rows["vendor:-"].error_code == "no_address"
        with pytest.raises(TemplateNotFound, match="no_such"):
            queue_emails(
                s,
                [EmailRequest(idempotency_key="x", template="no_such", vendor=ok)],
                now=now,
                settings=settings,
            )
        assert s.exec(select(Delivery).where(Delivery.idempotency_key == "x")).first() is None


def test_stream_renders_signs_sends_and_records(
    db: Engine, smtp: SmtpTestServer, now: datetime
) -> None:
    """A batch with every kind of outcome: sent, refused (suppressed), unrenderable, and an
    agent with the vendor copied."""
    settings = get_settings()
    smtp.rcpt_replies["refused@acme.test"] = "550 5.1.1 no such user"
    with Session(db, expire_on_commit=False) as s:
        vendors = [make_vendor(s, now, name=f"V{i}", email=f"v{i}@acme.test") for i in range(30)]
        refused = make_vendor(s, now, name="Refused", email="refused@acme.test")
        doomed = make_vendor(s, now, name="Doomed", email="doomed@acme.test")
        agented = make_vendor(
            s, now, name="Agented", email="av@acme.test", agent_email="pat@ag.test"
        )
        agent = s.get(Agent, agented.agent_id)
        requests = [
            EmailRequest(idempotency_key=f"s:{v.id}", template="certificate_request", vendor=v)
            for v in [*vendors, refused, doomed]
        ]
        requests.append(
            EmailRequest(
                idempotency_key="s:agent",
                template="renewal_request",
                vendor=agented,
                agent=agent,
                recipient_kind="agent",
                cc_vendor=True,
            )
        )
        created = queue_emails(s, requests, now=now, settings=settings)
        s.commit()
        doomed_id = created[-2].id
        # the vendor of one row disappears before the send: that row fails, the rest go
        s.execute(
            Delivery.__table__.update()  # type: ignore[attr-defined]
            .where(col(Delivery.id) == doomed_id)
            .values(vendor_id=None)
        )
        s.commit()
    ids = [c.id for c in created]
    results = deliver_many(ids, now=now, engine=db)
    statuses = {r.id: r.status for r in results if r is not None}
    assert list(statuses.values()).count("sent") == 31
    assert statuses[created[-3].id] == "bounced"
    assert statuses[doomed_id] == "failed"
    assert len(smtp.messages) == 31
    with Session(db) as s:
        stored = {r.id: r for r in s.exec(select(Delivery).where(col(Delivery.id).in_(ids)))}
        assert stored[doomed_id].error_code == "render_error"
        assert stored[created[-3].id].error_code == "smtp_550"
        by_message_id = {r.message_id: r for r in stored.values() if r.message_id}
        for got in smtp.messages:
            msg = message_from_bytes(got.data, policy=policy.default)
            row = by_message_id[msg["Message-ID"]]
            assert row.status == "sent" and row.sent_at is not None
            assert msg["Subject"] == row.subject
            text = msg.get_body(("plain",))
            html = msg.get_body(("html",))
            assert text is not None and html is not None
            assert text.get_content().replace("\r\n", "\n").rstrip("\n") == (
                row.body_text or ""
            ).rstrip("\n")
            assert html.get_content().replace("\r\n", "\n").rstrip("\n") == (
                row.body_html or ""
            ).rstrip("\n")
            token = token_from_address(str(msg["Reply-To"]), local_part="coi")
            signed = verify_token(token or "", settings.signing_key())
            assert signed is not None and signed.delivery_id == row.id
            assert row.content["render"]["pending"] is False
        agent_mail = next(m for m in smtp.messages if "pat@ag.test" in m.rcpt_tos)
        assert agent_mail.rcpt_tos == ["pat@ag.test", "av@acme.test"]
    # a second pass finds nothing of its own to send
    assert all(r is None for r in deliver_many(ids, now=now, engine=db))
    assert len(smtp.messages) == 31


def test_stream_crash_mid_batch_repeats_nothing(
    db: Engine, smtp: SmtpTestServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies while recording outcomes: the rows whose outcome was not recorded
    stay `sending`; after their lease the sweep re-queues them and only they are sent
    again (the documented window). Rows never handed to a sender are sent exactly once."""
    import comms.delivery_batch as batch_mod
    from comms.outbox import stale_deliveries

    ids = _queued_reminders(db, now, "c", 40)
    real = batch_mod.record_outcomes
    crashed: list[int] = []

    def dying(
        session: Session, done: list[dict[str, object]], others: list[object], **kwargs: object
    ) -> list[Delivery]:
        if done and not crashed:  # the first outcomes to record are lost with the process
            crashed.extend(int(str(values["id"])) for values in done)
            raise SystemError("killed while recording")
        return real(session, done, others, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(batch_mod, "record_outcomes", dying)
    with pytest.raises(SystemError):
        deliver_many(ids, now=now, engine=db)
    monkeypatch.undo()
    with Session(db) as s:
        rows = s.exec(select(Delivery).where(col(Delivery.id).in_(ids))).all()
        sending = {r.recipient for r in rows if r.status == "sending"}
        recorded = {r.recipient for r in rows if r.status == "sent"}
    assert sending and len(sending) + len(recorded) == 40
    later = now + timedelta(minutes=6)
    with Session(db) as s:
        due = stale_deliveries(s, now=later, wall=utcnow() + timedelta(minutes=6))
        s.commit()
    deliver_many(due, now=later, engine=db)
    with Session(db) as s:
        rows = s.exec(select(Delivery).where(col(Delivery.id).in_(ids))).all()
        assert all(r.status == "sent" for r in rows)
    received: dict[str, int] = {}
    for m in smtp.messages:
        received[m.rcpt_tos[0]] = received.get(m.rcpt_tos[0], 0) + 1
    assert set(received) == {f"c{i}@acme.test" for i in range(40)}
    # a row whose send was recorded is never sent again; only a row the server accepted
    # before the crash, whose outcome was lost, can arrive twice
    assert all(received[addr] == 1 for addr in recorded)
    assert {addr for addr, n in received.items() if n > 1} <= sending
    assert max(received.values()) <= 2


def test_stream_database_work_stays_off_the_event_loop(
    db: Engine, smtp: SmtpTestServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims, context loads and writes run on the stream's database thread, so they never
    hold up a reply the server is waiting for; the loop thread only renders and sends."""
    import threading

    import comms.delivery_batch as batch_mod

    ids = _queued_reminders(db, now, "t", 20)
    threads: dict[str, set[str]] = {}

    def on_thread(name: str, real: object) -> object:
        def call(*args: object, **kwargs: object) -> object:
            threads.setdefault(name, set()).add(threading.current_thread().name)
            return real(*args, **kwargs)  # type: ignore[operator]

        return call

    for name in ("claim_many", "pending_contexts", "store_rendered", "record_outcomes", "_render"):
        monkeypatch.setattr(batch_mod, name, on_thread(name, getattr(batch_mod, name)))
    done = deliver_many(ids, now=now, engine=db)
    assert all(r is not None and r.status == "sent" for r in done)
    assert len(smtp.messages) == 20
    for name in ("claim_many", "pending_contexts", "store_rendered", "record_outcomes"):
        assert {t.split("_")[0] for t in threads[name]} == {"delivery-db"}, (name, threads)
    assert threads["_render"] == {"comms-dispatch"}


def test_a_failed_claim_is_the_error_raised_and_nothing_is_sent(
    db: Engine, smtp: SmtpTestServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails the stream's first claim: that error reaches the caller (not one
    from the clean-up after it), nothing is sent and the rows stay queued for the next try."""
    import comms.delivery_batch as batch_mod

    [created_id] = _queued_reminders(db, now, "down", 1)

    def down(*args: object, **kwargs: object) -> list[Delivery]:
        raise ConnectionError("database went away")

    monkeypatch.setattr(batch_mod, "claim_many", down)
    with pytest.raises(ConnectionError, match="database went away"):
        deliver_many([created_id], now=now, engine=db)
    monkeypatch.undo()
    assert smtp.messages == []
    with Session(db) as s:
        row = s.get(Delivery, created_id)
        assert row is not None and row.status == "queued"
    [done] = deliver_many([created_id], now=now, engine=db)
    assert done is not None and done.status == "sent" and len(smtp.messages) == 1


def test_lines_starting_with_a_period_arrive_intact(
    db: Engine, smtp: SmtpTestServer, now: datetime
) -> None:
    from comms.email.sender import dot_stuffed
    from comms.outbox import NewDelivery, create_delivery

    assert dot_stuffed(b".a\r\nb\r\n.\r\n") == b"..a\r\nb\r\n..\r\n"
    assert dot_stuffed(b"no end") == b"no end\r\n"
    body = ".hidden line\n..two dots\nplain\n"
    with Session(db, expire_on_commit=False) as s:
        vendor = make_vendor(s, now)
        row, _ = create_delivery(
            s,
            NewDelivery(
                idempotency_key="dots",
                channel="email",
                recipient="dana@acme.test",
                template="reminder",
                vendor_id=vendor.id,
                subject="Dots",
                body_text=body,
                body_html="<p>x</p>\n.<b>y</b>\n",
            ),
            now=now,
        )
        s.commit()
    [done] = deliver_many([row.id or 0], now=now, engine=db)
    assert done is not None and done.status == "sent"
    msg = message_from_bytes(smtp.messages[0].data, policy=policy.default)
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == body
    assert ".<b>y</b>" in html.get_content()


def test_rows_claimed_too_long_ago_are_left_to_the_sweep(
    db: Engine, smtp: SmtpTestServer, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row that waited in the stream longer than its lease allows (a stalled server) is
    not sent: the sweep re-queues it after the lease and it is sent once."""
    import comms.delivery_batch as batch_mod
    from comms.outbox import stale_deliveries

    [created_id] = _queued_reminders(db, now, "late", 1)
    monkeypatch.setattr(batch_mod, "LEASE_MARGIN", 3600.0)
    assert deliver_many([created_id], now=now, engine=db) == [None]
    assert smtp.messages == []
    with Session(db) as s:
        row = s.get(Delivery, created_id)
        assert row is not None and row.status == "sending"
    monkeypatch.undo()
    later = now + timedelta(minutes=6)
    with Session(db) as s:
        assert stale_deliveries(s, now=later, wall=utcnow() + timedelta(minutes=6)) == [created_id]
        s.commit()
    [done] = deliver_many([created_id], now=later, engine=db)
    assert done is not None and done.status == "sent" and len(smtp.messages) == 1
