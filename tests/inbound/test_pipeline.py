"""The pipeline's decisions: bounces, auto-replies, the review list, forged tokens, retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms.app.cli import app
from comms.email.compose import queue_email
from comms.models import Agent, Case, CaseEvent, Certificate, Delivery, Suppression, Vendor
from inbound.models import InboundEmail
from tests.inbound.conftest import AGENT_EMAIL, WHEN, ingest, make_world, pdf, reply
from tests.support.pdfs import encrypted_pdf

WILD = Path(__file__).parent / "mail" / "wild"


def _sent_request(engine: Engine, world_case: int, vendor_id: int) -> Delivery:
    with Session(engine, expire_on_commit=False) as s:
        vendor = s.get(Vendor, vendor_id)
        case = s.get(Case, world_case)
        assert vendor is not None and case is not None
        row, _ = queue_email(
            s,
            idempotency_key="req",
            template="renewal_request",
            vendor=vendor,
            recipient_kind="agent",
            now=WHEN,
            case=case,
            step="renewal_request",
        )
        row.status, row.sent_at = "sent", WHEN
        s.add(row)
        s.commit()
        return row


def test_bounce_after_acceptance_suppresses_flags_and_tells_the_workflow(db: Engine) -> None:
    world = make_world(db)
    request = _sent_request(db, world.case_id, world.vendor_id)
    raw = (
        (WILD / "lhost-postfix-01.eml")
        .read_bytes()
        .replace(b"kijitora@example.org", AGENT_EMAIL.encode())
    )
    out = ingest(db, raw)
    assert (out.classification, out.status) == ("bounce", "processed")
    assert out.bounce is not None and out.bounce["suppressed"] == [AGENT_EMAIL]
    with Session(db) as s:
        assert s.exec(select(Suppression).where(Suppression.address == AGENT_EMAIL)).one()
        agent = s.get(Agent, world.agent_id)
        assert agent is not None and agent.email_invalid  # flagged for staff
        sent = s.get(Delivery, request.id)
        assert sent is not None and sent.status == "bounced" and sent.error_code == "dsn_permanent"
        events = s.exec(select(CaseEvent).where(CaseEvent.case_id == world.case_id)).all()
        assert "delivery_bounced" in [e.kind for e in events]
        case = s.get(Case, world.case_id)
        assert case is not None and case.next_action_at == WHEN  # woken to turn to the phone


def test_auto_reply_is_logged_not_taken_as_an_answer(db: Engine) -> None:
    world = make_world(db)
    raw = (
        (WILD / "rfc3834-02.eml")
        .read_bytes()
        .replace(b"nekonyaan@example.org", AGENT_EMAIL.encode())
    )
    out = ingest(db, raw)
    assert out.classification == "auto_reply" and out.status == "processed"
    assert out.matched is not None and out.matched["method"] == "sender"
    assert out.certificates == [] and out.acknowledgment is None
    with Session(db) as s:
        case = s.get(Case, world.case_id)
        assert case is not None and case.state == "active"
        kinds = [e.kind for e in s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id))]
        assert "auto_reply" in kinds and "reply_received" not in kinds


def test_reply_text_goes_on_the_timeline(db: Engine) -> None:
    world = make_world(db)
    text = "Renewal in progress, will send Friday.\n\n-- \nTiffany Edison\nDamon Bogich, LLC\n\nOn Mon, Jun 1, 2020 COI wrote:\n> Please send the renewed certificate"
    out = ingest(db, reply(text=text))
    assert out.reply_text == "Renewal in progress, will send Friday."
    with Session(db) as s:
        [event] = s.exec(
            select(CaseEvent).where(
                CaseEvent.case_id == world.case_id, CaseEvent.kind == "reply_received"
            )
        ).all()
        assert event.reason == "Renewal in progress, will send Friday."


def test_unknown_sender_goes_to_review_and_staff_can_assign_it(use_db: Engine) -> None:
    world = make_world(use_db)
    out = ingest(use_db, reply(sender="someone@elsewhere.example", attachments=[pdf()]))
    assert (out.status, out.classification, out.matched) == ("review", "unmatched", None)
    [seen] = out.certificates
    assert seen["insured"] == "Lisa Gomez, LLC" and seen["id"] is None
    runner = CliRunner()
    listed = runner.invoke(app, ["inbound", "list", "--review", "--json"])
    assert listed.exit_code == 0 and f'"id": {out.inbound_id}' in listed.stdout
    done = runner.invoke(
        app,
        ["inbound", "assign", str(out.inbound_id), "--vendor", "4401", "--now", WHEN.isoformat()],
    )
    assert done.exit_code == 0, done.output
    with Session(use_db) as s:
        row = s.get(InboundEmail, out.inbound_id)
        assert row is not None and row.status == "processed" and row.match_method == "staff"
        cert = s.exec(select(Certificate).where(Certificate.source == "email")).one()
        assert cert.vendor_id == world.vendor_id
    again = runner.invoke(app, ["inbound", "list", "--review", "--json"])
    assert f'"id": {out.inbound_id}' not in again.stdout


def test_forged_token_is_refused_and_weaker_matches_are_tried(db: Engine) -> None:
    make_world(db)
    forged = "coi+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@example.com"
    out = ingest(db, reply(to=forged))
    assert out.matched is not None
    assert out.matched["method"] == "sender" and out.matched["forged_token"] is True
    stranger = ingest(db, reply(to=forged, sender="x@elsewhere.example", message_id="<x@y>"))
    assert stranger.classification == "unmatched" and stranger.status == "review"


def test_a_failure_is_quarantined_and_retry_runs_it_again(
    use_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_world(use_db)
    import inbound.handlers as handlers

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(handlers, "record_certificate", broken)
    out = ingest(use_db, reply(attachments=[pdf()]))
    assert out.status == "quarantined"
    assert out.quarantined == "internal error: RuntimeError: database went away"
    with Session(use_db) as s:
        assert s.exec(select(Certificate).where(Certificate.source == "email")).all() == []
        row = s.get(InboundEmail, out.inbound_id)
        assert row is not None and row.raw  # nothing lost
    monkeypatch.undo()
    result = CliRunner().invoke(app, ["inbound", "retry", "--now", WHEN.isoformat()])
    assert result.exit_code == 0, result.output
    assert "1 retried, 0 still in quarantine" in result.output
    with Session(use_db) as s:
        row = s.get(InboundEmail, out.inbound_id)
        assert row is not None and row.status == "processed" and row.attempts == 2
        assert len(s.exec(select(Certificate).where(Certificate.source == "email")).all()) == 1


def test_retrying_a_partly_processed_message_adds_nothing_twice(use_db: Engine) -> None:
    world = make_world(use_db)
    locked = ("locked.pdf", "application/pdf", encrypted_pdf())
    out = ingest(use_db, reply(attachments=[pdf(), locked]))
    assert out.status == "quarantined" and out.quarantined is not None
    assert "locked.pdf: encrypted" in out.quarantined
    assert [c["status"] for c in out.certificates] == ["accepted"]  # the readable one counts
    assert (out.quarantine_code, out.quarantine_permanent) == ("attachment_refused", True)
    result = CliRunner().invoke(app, ["inbound", "retry", "--force", "--now", WHEN.isoformat()])
    assert result.exit_code == 1 and "1 still in quarantine" in result.output
    with Session(use_db) as s:
        assert len(s.exec(select(Certificate).where(Certificate.source == "email")).all()) == 1
        noted = s.exec(
            select(CaseEvent).where(
                CaseEvent.case_id == world.case_id, CaseEvent.kind == "reply_received"
            )
        ).all()
        assert len(noted) == 1
        acks = s.exec(select(Delivery).where(Delivery.template == "receipt_acknowledgment"))
        assert len(acks.all()) == 1


def test_a_processed_message_is_never_processed_twice(db: Engine) -> None:
    make_world(db)
    out = ingest(db, reply(attachments=[pdf()]))
    from inbound.pipeline import process_message

    again = process_message(out.inbound_id, now=WHEN, engine=db, enqueue=lambda *a, **k: None)
    assert again.certificates == out.certificates and again.status == "processed"
    with Session(db) as s:
        row = s.get(InboundEmail, out.inbound_id)
        assert row is not None and row.attempts == 1


def test_bounce_for_an_address_we_never_wrote_to_changes_nothing(db: Engine) -> None:
    world = make_world(db)
    raw = (
        (WILD / "lhost-postfix-01.eml")
        .read_bytes()
        .replace(b"kijitora@example.org", AGENT_EMAIL.encode())
    )
    out = ingest(db, raw)  # no email was ever sent to the agent: a forged or stray DSN
    assert out.classification == "bounce" and out.bounce is not None
    assert out.bounce["suppressed"] == [] and out.bounce["ignored"] == [AGENT_EMAIL]
    with Session(db) as s:
        assert s.exec(select(Suppression)).all() == []
        agent = s.get(Agent, world.agent_id)
        assert agent is not None and not agent.email_invalid


def test_retry_runs_the_transient_ones_and_names_the_permanent_ones(
    use_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_world(use_db)
    import inbound.handlers as handlers

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(handlers, "record_certificate", down)
    transient = ingest(use_db, reply(attachments=[pdf()]))
    monkeypatch.undo()
    assert (transient.quarantine_code, transient.quarantine_permanent) == (
        "database_unavailable",
        False,
    )
    locked = ("locked.pdf", "application/pdf", encrypted_pdf())
    permanent = ingest(use_db, reply(attachments=[locked], message_id="<locked@agency.example>"))
    assert (permanent.quarantine_code, permanent.quarantine_permanent) == (
        "attachment_refused",
        True,
    )
    with Session(use_db) as s:  # the code is stored, not only the text
        row = s.get(InboundEmail, permanent.inbound_id)
        assert row is not None
        assert (row.quarantine_code, row.quarantine_permanent) == ("attachment_refused", True)

    runner = CliRunner()
    result = runner.invoke(app, ["inbound", "retry", "--now", WHEN.isoformat()])
    assert result.exit_code == 0, result.output
    assert "1 retried, 0 still in quarantine, 1 permanent not retried" in result.output
    assert f"inbound {permanent.inbound_id} not retried: permanent (attachment_refused)" in (
        result.stderr
    )
    with Session(use_db) as s:
        done = s.get(InboundEmail, transient.inbound_id)
        held = s.get(InboundEmail, permanent.inbound_id)
        assert done is not None and done.status == "processed" and done.quarantine_code is None
        assert held is not None and held.status == "quarantined" and held.attempts == 1

    forced = runner.invoke(app, ["inbound", "retry", "--force", "--now", WHEN.isoformat()])
    assert forced.exit_code == 1 and "1 retried, 1 still in quarantine" in forced.output
    with Session(use_db) as s:
        held = s.get(InboundEmail, permanent.inbound_id)
        assert held is not None and held.attempts == 2 and held.quarantine_permanent


def test_the_classifier_that_decided_is_recorded(db: Engine) -> None:
    make_world(db)
    raw = (
        (WILD / "rfc3834-02.eml")
        .read_bytes()
        .replace(b"nekonyaan@example.org", AGENT_EMAIL.encode())
    )
    assert ingest(db, raw).classifier == "auto_reply"
    assert ingest(db, reply(text="Thanks, on it.")).classifier == "human_reply"
    with Session(db) as s:
        rows = s.exec(select(InboundEmail).order_by(InboundEmail.id)).all()  # type: ignore[arg-type]
        assert [r.result["classifier"] for r in rows] == ["auto_reply", "human_reply"]


def test_the_routes_follow_the_classifiers_in_order() -> None:
    from inbound.classify import CLASSIFIERS
    from inbound.pipeline import ROUTES

    assert tuple(classifier for classifier, _ in ROUTES) == CLASSIFIERS
