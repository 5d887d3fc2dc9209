"""A message over COMMS_MAX_MESSAGE_BYTES: stored raw, quarantined by its size without being
parsed, and processed by `comms inbound retry --force` once the limit is raised."""

from __future__ import annotations

import hashlib
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

import inbound.pipeline
from comms.app.cli import app
from comms.models import Certificate
from comms.settings import get_settings, reset_settings_cache
from inbound.attachments import Spool, SpoolingMessage
from inbound.models import InboundEmail
from inbound.parse import ParsedMail, not_a_message
from tests.inbound.conftest import TEXT_PDF, WHEN, ingest, make_world, pdf, reply


def _limit(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setenv("COMMS_MAX_MESSAGE_BYTES", str(size))
    reset_settings_cache()


def test_an_oversized_message_is_stored_quarantined_unparsed_and_retried(
    use_db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    make_world(use_db)
    raw = reply(attachments=[pdf()])
    path = tmp_path / "big.eml"
    path.write_bytes(raw)
    _limit(monkeypatch, len(raw) - 1)  # one byte too many

    def no_parsing(data: bytes) -> object:
        raise AssertionError("an oversized message was parsed")

    with monkeypatch.context() as m:
        m.setattr(inbound.pipeline, "parse_mail", no_parsing)
        result = CliRunner().invoke(app, ["ingest", str(path), "--json", "--now", WHEN.isoformat()])
    assert result.exit_code == 1, result.output
    assert "message_too_large" in result.output
    with Session(use_db) as s:
        row = s.exec(select(InboundEmail)).one()
        assert row.status == "quarantined"
        assert (row.quarantine_code, row.quarantine_permanent) == ("message_too_large", True)
        assert row.quarantine_reason == (
            f"message is {len(raw)} bytes, over COMMS_MAX_MESSAGE_BYTES ({len(raw) - 1}); "
            "not parsed"
        )
        assert row.raw == raw and row.raw_size == len(raw)  # stored raw, whole
        assert row.sender is None and row.classification is None  # never parsed
        assert s.exec(select(Certificate).where(Certificate.source == "email")).all() == []
        inbound_id = row.id

    # a plain retry leaves a permanent failure alone; after raising the limit, --force runs it
    _limit(monkeypatch, len(raw))
    held = CliRunner().invoke(app, ["inbound", "retry", "--now", WHEN.isoformat()])
    assert "not retried: permanent (message_too_large)" in held.output
    forced = CliRunner().invoke(
        app, ["inbound", "retry", "--force", str(inbound_id), "--now", WHEN.isoformat()]
    )
    assert forced.exit_code == 0, forced.output
    assert "1 retried, 0 still in quarantine" in forced.output
    with Session(use_db) as s:
        done = s.get(InboundEmail, inbound_id)
        assert done is not None and done.status == "processed" and done.attempts == 2
        assert done.quarantine_code is None and done.sender == "tiffany.edison@yahoo.com"
        assert len(s.exec(select(Certificate).where(Certificate.source == "email")).all()) == 1


def test_the_message_check_reads_only_the_start() -> None:
    head = b"From: a@b.example\r\nSubject: x\r\n\r\n"
    assert not_a_message(head + b"x" * (3 * 1024 * 1024)) is None
    assert not_a_message(b"\r\n" * 10) == "the file is empty, not an email message"
    assert not_a_message(b"%PDF-1.7\n" + b"x" * 1024) is not None


def test_a_processed_attachment_is_stored_from_its_spool_file(
    use_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the pipeline: the certificate is read from the stored file, the parsed message
    held no copy of it, and nothing is left in the spool."""
    make_world(use_db)
    seen: list[Message] = []
    real = inbound.pipeline.parse_mail

    def parse_and_keep(raw: bytes, *, spool: Spool | None = None) -> ParsedMail:
        assert spool is not None  # the pipeline streams its documents
        parsed = real(raw, spool=spool)
        seen.append(parsed.msg)
        return parsed

    monkeypatch.setattr(inbound.pipeline, "parse_mail", parse_and_keep)
    data = TEXT_PDF.read_bytes()
    result = ingest(use_db, reply(attachments=[pdf()]))
    assert result.status == "processed" and len(result.certificates) == 1
    part = next(p for p in seen[0].walk() if isinstance(p, SpoolingMessage) and p.spooled)
    assert part.get_payload() == ""
    documents = get_settings().documents_dir
    digest = hashlib.sha256(data).hexdigest()
    assert (documents / digest[:2] / f"{digest}.pdf").read_bytes() == data
    assert [p.name for p in documents.iterdir() if p.name.startswith(".spool")] == []
