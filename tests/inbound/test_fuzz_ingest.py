"""Fuzzing `comms ingest` with a bounded mutation loop of a real reply, on both backends: no
traceback, only the documented exit codes (0 handled, 1 quarantined, 2 not an email message)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from comms.app.cli import app
from tests.inbound.conftest import AGENT_EMAIL, make_world
from tests.support.mutate import mutations

CASES = 20
REPLY = (
    f"From: Tiffany <{AGENT_EMAIL}>\r\nTo: coi@example.com\r\nSubject: Re: COI\r\n"
    "Message-ID: <f@x.example>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
    "Content-Type: text/plain; charset=utf-8\r\n\r\nHere it is.\r\n--b1\r\n"
    'Content-Type: application/pdf; name="coi.pdf"\r\nContent-Transfer-Encoding: base64\r\n'
    'Content-Disposition: attachment; filename="coi.pdf"\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCg==\r\n'
    "--b1--\r\n"
).encode()


def test_mutated_mail(use_db: Engine, tmp_path: Path) -> None:
    make_world(use_db)
    runner = CliRunner()
    for i, data in enumerate(mutations(REPLY, CASES, seed=16)):
        path = tmp_path / f"case{i}.eml"
        path.write_bytes(data)
        result = runner.invoke(app, ["ingest", str(path), "--json"])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            i,
            data,
            result.exception,
        )
        assert "Traceback" not in result.output, (i, result.output)
        assert result.exit_code in (0, 1, 2), (i, result.exit_code, result.output)
