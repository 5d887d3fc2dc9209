"""The `make run` path on the embedded defaults: init, import the example roster, status."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from comms.cli.main import app
from comms.settings import reset_settings_cache

REPO = Path(__file__).resolve().parents[2]


def test_init_import_example_status(
    monkeypatch: pytest.MonkeyPatch, _isolated_settings: Path
) -> None:
    monkeypatch.chdir(REPO)
    reset_settings_cache()
    runner = CliRunner()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert "standard" in result.output
    assert (_isolated_settings / "comms.db").exists()
    result = runner.invoke(
        app, ["import", "config/examples/roster.csv", "--now", "2026-11-28T12:00:00Z"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["status", "--as-of", "2026-11-28", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["counts"] == {
        "compliant": 2,
        "expiring": 1,
        "non_compliant": 1,
        "expired": 1,
        "missing": 1,
    }
    # a second init keeps the data (migrations are idempotent)
    assert runner.invoke(app, ["init"]).exit_code == 0
    again = json.loads(runner.invoke(app, ["status", "--as-of", "2026-11-28", "--json"]).output)
    assert again == report
    assert os.environ["COMMS_DATA_DIR"] == str(_isolated_settings)


def test_config_option_points_at_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('default_region = "QQ"\n')
    result = CliRunner().invoke(app, ["--config", str(toml), "status"])
    assert result.exit_code == 2
    assert "COMMS_DEFAULT_REGION" in result.output
