"""Store-then-process of Twilio callbacks: the raw row is committed before its handler runs,
a crash mid-handler leaves it re-runnable, a row is never applied twice, a kind without a
handler is reported, and every stored kind has a handler."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.db import make_engine
from comms.settings import Settings
from telephony import events
from telephony.callbacks import Callbacks, Kind
from telephony.models import WebhookEvent

PARAMS = {"MessageSid": "SM9", "MessageStatus": "delivered"}


def _rows(engine: Engine) -> list[WebhookEvent]:
    with Session(engine) as s:
        return list(s.exec(select(WebhookEvent).order_by(WebhookEvent.id)).all())  # type: ignore[arg-type]


def test_raw_row_is_committed_before_the_handler_runs(use_db: Engine, now: datetime) -> None:
    seen_from_outside: list[dict[str, object]] = []
    # a reader that does not wait for the write lock (SQLite: a deferred transaction)
    reader = make_engine(use_db.url.render_as_string(hide_password=False), immediate=False)

    def handler(_s: Session, _p: dict[str, str], _at: datetime) -> str:
        # another connection sees the stored callback while the handler is still running
        with Session(reader) as other:
            seen_from_outside.extend(r.payload for r in other.exec(select(WebhookEvent)).all())
        return "ok"

    done = events.process_once(use_db, "sms_status", "SM9", "delivered", PARAMS, handler, now=now)
    assert done.outcome is events.Outcome.PROCESSED and done.value == "ok"
    assert seen_from_outside == [PARAMS]
    reader.dispose()
    [row] = _rows(use_db)
    assert row.processed_at is not None and row.error is None


def test_a_crash_mid_handler_leaves_the_callback_to_rerun(use_db: Engine, now: datetime) -> None:
    def crash(_s: Session, _p: dict[str, str], _at: datetime) -> None:
        raise KeyboardInterrupt  # not an Exception: nothing in process_once catches it

    with pytest.raises(KeyboardInterrupt):
        events.process_once(use_db, "sms_status", "SM9", "delivered", PARAMS, crash, now=now)
    [row] = _rows(use_db)
    assert row.payload == PARAMS and row.processed_at is None and row.error is None

    applied: list[str] = []

    def handler(_s: Session, p: dict[str, str], _at: datetime) -> None:
        applied.append(p["MessageSid"])

    later = now + timedelta(minutes=5)
    report = events.reprocess(use_db, {"sms_status": handler}, now=later)
    assert report.processed == 1 and not report.failed and not report.unhandled
    assert applied == ["SM9"]
    [row] = _rows(use_db)
    assert row.processed_at is not None
    # nothing left: a second re-run applies nothing
    assert events.reprocess(use_db, {"sms_status": handler}, now=later).processed == 0
    assert applied == ["SM9"]


def test_a_processed_row_is_not_applied_again(use_db: Engine, now: datetime) -> None:
    calls: list[int] = []

    def handler(_s: Session, _p: dict[str, str], _at: datetime) -> None:
        calls.append(1)

    done = events.process_once(use_db, "sms_status", "SM9", "delivered", PARAMS, handler, now=now)
    assert done.event_id is not None
    # a re-run that read the row before the live request finished finds it claimed
    again = events.run(use_db, done.event_id, "sms_status", PARAMS, handler, now=now)
    assert again.outcome is events.Outcome.DUPLICATE and calls == [1]


def test_handler_failure_is_quarantined_with_its_error(
    use_db: Engine, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(s: Session, _p: dict[str, str], _at: datetime) -> None:
        s.add(WebhookEvent(kind="x", sid="partial", status="work", received_at=now))
        raise RuntimeError("no luck for +1 212 555 0143")

    done = events.process_once(use_db, "sms_status", "SM9", "delivered", PARAMS, broken, now=now)
    assert done.outcome is events.Outcome.QUARANTINED
    [row] = _rows(use_db)  # the handler's own writes were rolled back
    assert row.processed_at is None and "RuntimeError: no luck" in (row.error or "")
    assert "quarantined" in caplog.text and "555 0143" not in caplog.text  # logs redacted


def test_kinds_without_a_handler_are_reported(use_db: Engine, now: datetime) -> None:
    events.store(use_db, "fax_status", "FX1", "received", {"FaxSid": "FX1"}, now=now)
    events.store(use_db, "fax_status", "FX2", "received", {"FaxSid": "FX2"}, now=now)
    report = events.reprocess(use_db, {}, now=now)
    assert report.processed == 0 and report.unhandled == {"fax_status": 2}
    assert all(r.processed_at is None for r in _rows(use_db))  # still there


def test_a_claim_the_database_refuses_is_reported_and_the_rest_rerun(
    use_db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    events.store(use_db, "sms_status", "SM1", "delivered", PARAMS, now=now)
    events.store(use_db, "sms_status", "SM2", "delivered", PARAMS, now=now)
    real = events.run
    calls: list[int] = []

    def locked_once(engine: Engine, event_id: int, *args: object, **kw: object) -> object:
        calls.append(event_id)
        if len(calls) == 1:
            raise OperationalError("UPDATE webhook_event", {}, Exception("database is locked"))
        return real(engine, event_id, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(events, "run", locked_once)
    report = events.reprocess(use_db, {"sms_status": lambda *_: None}, now=now)
    assert report.processed == 1 and len(calls) == 2
    [(_id, kind, error)] = report.failed
    assert kind == "sms_status" and "database is locked" in error
    assert sum(r.processed_at is None for r in _rows(use_db)) == 1  # it waits for the next


def test_every_kind_has_a_handler(settings: Settings) -> None:
    assert set(Callbacks(settings).handlers()) == set(Kind)


def test_route_arguments_are_stored_with_the_parameters() -> None:
    stored = events.with_route({"CallSid": "CA1"}, vendor=12, delivery_id=None)
    assert stored == {"CallSid": "CA1", "_vendor": "12"}
    assert events.route_id(stored, "vendor") == 12 and events.route_id(stored, "x") is None
    assert events.twilio_params(stored) == {"CallSid": "CA1"}
