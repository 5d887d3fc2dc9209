from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from inbound.acord25.cli import register

from .conftest import SAMPLES


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps typer in multi-command mode
        pass

    return app


def test_cli_json() -> None:
    res = CliRunner().invoke(
        _app(), ["extract", str(SAMPLES / "acord_25_2016_03_sample.pdf"), "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["is_acord25"] is True
    assert out["insured"]["name"] == "Lisa Gomez, LLC"
    assert "confidence" in out and "warnings" in out


def test_cli_table() -> None:
    res = CliRunner().invoke(_app(), ["extract", str(SAMPLES / "acord_25_2016_03_sample.pdf")])
    assert res.exit_code == 0, res.output
    assert "policies[0].policy_number" in res.stdout and "7843243-A" in res.stdout


def test_cli_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + b"\x01" * 4000)
    res = CliRunner().invoke(_app(), ["extract", str(bad)])
    assert res.exit_code == 2
    assert "broken.pdf" in res.output and "corrupt" in res.output


def test_cli_missing_file(tmp_path: Path) -> None:
    res = CliRunner().invoke(_app(), ["extract", str(tmp_path / "nope.pdf")])
    assert res.exit_code == 2
    assert "nope.pdf" in res.output
