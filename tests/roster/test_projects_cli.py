"""`comms init` loads config/projects; `comms import` refuses a roster naming an unknown
project: one `FILE:LINE: project` line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from comms.app.cli import app
from comms.settings import reset_settings_cache

REPO = Path(__file__).resolve().parents[2]
HEADER = "Vendor Name,Vendor E-mail,Profile,Project\n"


def test_unknown_project_exits_2(
    monkeypatch: pytest.MonkeyPatch, _isolated_settings: Path, tmp_path: Path
) -> None:
    monkeypatch.chdir(REPO)
    reset_settings_cache()
    runner = CliRunner()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert "harbor-point" in result.output  # the example project
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "A Co,a@a.example,standard,harbor-point\nB Co,b@b.example,,nope\n")
    result = runner.invoke(app, ["import", str(bad), "--now", "2026-11-28T12:00:00Z"])
    assert result.exit_code == 2, result.output
    assert f"{bad}:3: project: unknown project 'nope' (known: harbor-point)" in result.output
    result = runner.invoke(app, ["status", "--as-of", "2026-11-28", "--json"])
    assert result.exit_code == 0, result.output
    assert sum(json.loads(result.output)["counts"].values()) == 0  # nothing was written
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "A Co,a@a.example,standard,harbor-point\n")
    result = runner.invoke(app, ["import", str(good), "--now", "2026-11-28T12:00:00Z"])
    assert result.exit_code == 0, result.output
