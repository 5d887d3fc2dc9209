"""The batched inbound-call log loses no row: a batch the database does not take is written
at a later flush, a row it refuses on its own is quarantined and stored by
`comms webhooks-rerun`, rows still waiting at shutdown go to a file that the re-run imports;
and no phone number is logged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms.app.cli import app as cli
from telephony.calllog import CallLog, default_spill_dir
from telephony.models import InboundMessage, WebhookEvent
from tests.telephony.conftest import VENDOR_PHONE, make_world

runner = CliRunner()


def _row(n: int, now: datetime, vendor_id: int | None = None) -> dict[str, Any]:
    return {
        "kind": "call",
        "sid": f"CA{n:032d}",
        "from_number": VENDOR_PHONE,
        "to_number": "+12125550100",
        "body": None,
        "vendor_id": vendor_id,
        "agent_id": None,
        "action": "matched" if vendor_id else "ask_code",
        "payload": {"CallSid": f"CA{n:032d}", "From": VENDOR_PHONE},
        "received_at": now + timedelta(seconds=n),
    }


@pytest.fixture
def database_down(use_db: Engine) -> Iterator[dict[str, bool]]:
    """While `state["down"]`, inserts into the call log fail as a locked database does."""
    state = {"down": True}

    def refuse(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        if state["down"] and statement.lstrip().upper().startswith("INSERT INTO INBOUND_TELEPHONY"):
            raise OperationalError(statement, params, Exception("database is locked"))

    event.listen(use_db, "before_cursor_execute", refuse)
    yield state
    event.remove(use_db, "before_cursor_execute", refuse)


def _stored(engine: Engine) -> list[InboundMessage]:
    with Session(engine) as s:
        return list(s.exec(select(InboundMessage)).all())


def _wait(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_rows_are_kept_until_the_database_takes_them(
    use_db: Engine,
    now: datetime,
    database_down: dict[str, bool],
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = CallLog(use_db, interval=0.02)
    for n in range(3):
        log.add(_row(n, now))
    _wait(lambda: len(log.pending) == 3)
    time.sleep(0.1)  # several flushes fail meanwhile
    assert _stored(use_db) == []
    database_down["down"] = False
    _wait(lambda: len(_stored(use_db)) == 3)
    log.close()
    assert sorted(r.sid for r in _stored(use_db)) == [f"CA{n:032d}" for n in range(3)]
    assert "database is locked" in caplog.text
    assert "2125550143" not in caplog.text and "CA000" not in caplog.text


def test_a_refused_row_is_quarantined_and_stored_by_rerun(
    use_db: Engine, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    with Session(use_db) as s:
        world = make_world(s, now)
    log = CallLog(use_db, interval=0.02)
    log.add(_row(0, now, world.vendor.id))
    log.add(_row(1, now, vendor_id=9999))  # a vendor deleted meanwhile: refused on its own
    log.add(_row(2, now, world.vendor.id))
    log.close()
    assert sorted(r.sid[-1] for r in _stored(use_db)) == ["0", "2"]
    with Session(use_db) as s:
        [quarantined] = s.exec(select(WebhookEvent)).all()
    assert quarantined.kind == "voice_inbound" and quarantined.processed_at is None
    assert "FOREIGN KEY" in (quarantined.error or "").upper()
    assert "2125550143" not in caplog.text

    result = runner.invoke(cli, ["webhooks-rerun"])
    assert result.exit_code == 0, result.output
    [row] = [r for r in _stored(use_db) if r.sid.endswith("1")]
    assert row.vendor_id is None and row.from_number == VENDOR_PHONE
    assert row.received_at == now + timedelta(seconds=1) and row.action == "matched"
    assert row.payload == {"CallSid": f"CA{1:032d}", "From": VENDOR_PHONE}


def test_rows_waiting_at_shutdown_go_to_a_file_the_rerun_imports(
    use_db: Engine,
    now: datetime,
    database_down: dict[str, bool],
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = CallLog(use_db, interval=0.02, max_pending=2)
    for n in range(5):
        log.add(_row(n, now))
    log.close()  # the database is still down
    files = sorted(default_spill_dir().glob("call-log-*.jsonl"))
    assert files and _stored(use_db) == []
    assert "webhooks-rerun" in caplog.text and "2125550143" not in caplog.text

    database_down["down"] = False
    for _ in range(2):  # a second run imports nothing twice
        result = runner.invoke(cli, ["webhooks-rerun"])
        assert result.exit_code == 0, result.output
    assert sorted(r.sid for r in _stored(use_db)) == [f"CA{n:032d}" for n in range(5)]
    assert not list(default_spill_dir().glob("call-log-*"))


def test_rows_are_written_to_a_file_when_the_writer_is_stuck_at_shutdown(
    use_db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database holds the writer past `close`'s timeout (a write lock held elsewhere): the
    rows it was writing, and those queued behind it, go to a file from the closing thread,
    since the process may exit before the writer (a daemon thread) gets anywhere."""
    import telephony.calllog as calllog

    release = threading.Event()

    def stuck(engine: Engine, rows: list[Any]) -> list[Any]:
        release.wait(10)
        return list(rows)  # and then not taken

    monkeypatch.setattr(calllog, "store_rows", stuck)
    log = CallLog(use_db, interval=0.01)
    log.add(_row(1, now))
    time.sleep(0.3)  # the writer is inside the stuck store with row 1
    log.add(_row(2, now))
    log.close(timeout=0.3)
    release.set()
    log._thread.join(10)  # the writer, let go, writes no second file
    files = sorted(default_spill_dir().glob("call-log-*.jsonl"))
    assert len(files) == 1
    text = files[0].read_text()
    assert f"CA{1:032d}" in text and f"CA{2:032d}" in text
