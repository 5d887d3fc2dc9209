"""Migration 0002: reason codes on quarantined inbound messages and webhook events, read from
the text of the rows quarantined before it (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from comms.db import make_engine
from comms.failures import Failure, failure_of
from comms.migrate import current_revision, upgrade
from comms.settings import SettingsError
from inbound.imap.connection import ConnectionLost
from tests.support.db import fresh_postgres_url

WHEN = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
QUARANTINED = [
    ("message is 900 bytes, over COMMS_MAX_MESSAGE_BYTES (800)", "message_too_large", True),
    ("attachment refused: a.pdf: encrypted", "attachment_refused", True),
    ("internal error: RuntimeError: boom", "internal_error", False),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield engine
        engine.dispose()
        return
    with fresh_postgres_url() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def test_upgrade_gives_old_rows_their_codes(empty_db: Engine) -> None:
    upgrade(empty_db, "0001")
    with empty_db.begin() as conn:
        for i, (reason, _code, _permanent) in enumerate(QUARANTINED):
            conn.execute(
                text(
                    "INSERT INTO inbound_email (dedupe_key, source, raw_sha256, raw_size, raw,"
                    " status, attempts, quarantine_reason, result, received_at)"
                    " VALUES (:key, 'file', 'x', 1, :raw, 'quarantined', 1, :reason, '{}', :at)"
                ),
                {"key": f"k{i}", "raw": b"x", "reason": reason, "at": WHEN},
            )
        conn.execute(
            text(
                "INSERT INTO inbound_email (dedupe_key, source, raw_sha256, raw_size, raw,"
                " status, attempts, result, received_at)"
                " VALUES ('done', 'file', 'x', 1, :raw, 'processed', 1, '{}', :at)"
            ),
            {"raw": b"x", "at": WHEN},
        )
        for sid, error in (
            ("CA1", "spilled: the database was unavailable"),
            ("CA2", "RuntimeError: handler down"),
            ("CA3", None),  # left by a crash: no error
        ):
            conn.execute(
                text(
                    "INSERT INTO webhook_event (kind, sid, status, payload, received_at, error)"
                    " VALUES ('voice_inbound', :sid, 's', '{}', :at, :error)"
                ),
                {"sid": sid, "at": WHEN, "error": error},
            )

    upgrade(empty_db, "0002")  # the revision under test (later ones, e.g. 0003 staff, follow)
    assert current_revision(empty_db) == "0002"
    with empty_db.connect() as conn:
        inbound = conn.execute(
            text(
                "SELECT quarantine_reason, quarantine_code, quarantine_permanent"
                " FROM inbound_email ORDER BY id"
            )
        ).all()
        events = conn.execute(
            text("SELECT sid, error_code, error_permanent FROM webhook_event ORDER BY id")
        ).all()
    assert [tuple(r) for r in inbound] == [*QUARANTINED, (None, None, False)]
    assert [tuple(r) for r in events] == [
        ("CA1", "database_unavailable", False),
        ("CA2", "internal_error", False),
        ("CA3", None, False),
    ]


def test_failure_of_an_exception() -> None:
    assert failure_of(SettingsError("COMMS_X: bad")) == Failure("settings", permanent=True)
    assert failure_of(ConnectionLost("bye")) == Failure("connection_lost", permanent=False)
    assert failure_of(TimeoutError()) == Failure("timeout")
    assert failure_of(RuntimeError("a bug")) == Failure("internal_error", permanent=False)
