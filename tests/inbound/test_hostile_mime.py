"""MIME structures built to hurt the parser: refused before parsing, in one line."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.engine import Engine

from inbound.parse import MAX_MULTIPARTS, multipart_count
from tests.inbound.conftest import AGENT_EMAIL, ingest, make_world

HEAD = f"From: Tiffany <{AGENT_EMAIL}>\r\nTo: coi@example.com\r\nMessage-ID: <d@x.example>\r\n"


def _nested(depth: int) -> bytes:
    """`depth` multiparts, each the only part of the one around it."""
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    closing = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    body = "Content-Type: text/plain\r\n\r\nhello"
    return (HEAD + "Subject: deep\r\nMIME-Version: 1.0\r\n" + opening + body + closing).encode()


def test_a_thousand_nested_multiparts_are_refused_as_too_deeply_nested(
    db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    make_world(db)
    raw = _nested(1000)
    assert multipart_count(raw) == 1000
    result = ingest(db, raw)
    assert result.status == "quarantined"
    assert result.quarantined is not None and "too deeply nested" in result.quarantined
    assert result.quarantine_code == "mime_too_deep" and result.quarantine_permanent
    assert "RecursionError" not in caplog.text


def test_ordinary_nesting_is_parsed(db: Engine) -> None:
    make_world(db)
    result = ingest(db, _nested(5))
    assert result.status != "quarantined", result.quarantined
    assert multipart_count(_nested(MAX_MULTIPARTS)) == MAX_MULTIPARTS


def test_flufl_bounce_tracebacks_are_one_line(caplog: pytest.LogCaptureFixture) -> None:
    flufl = logging.getLogger("flufl.bounce")
    with caplog.at_level(logging.DEBUG):
        try:
            raise ValueError("bad header\nsecond line")
        except ValueError:
            flufl.exception("Exception in detector: %s", "Postfix")
        flufl.info("Running detector: %s", "Postfix")
    [record] = [r for r in caplog.records if r.name == "flufl.bounce"]
    assert record.exc_info is None
    assert record.getMessage() == "Exception in detector: Postfix: ValueError: bad header"
    assert "Traceback" not in caplog.text
