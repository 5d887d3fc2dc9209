"""The `make run` path on the embedded defaults: init, import the example roster, status."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from comms.app.cli import app
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


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    from comms.app.cli import main

    monkeypatch.setattr("sys.argv", ["comms", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0)


def test_cli_names_what_it_cannot_get_past(
    monkeypatch: pytest.MonkeyPatch,
    _isolated_settings: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A database with no tables, a bad data file, a path that is not a folder: one line that
    names it and exit status 2, no traceback."""
    reset_settings_cache()
    assert _main(monkeypatch, "tick", "--now", "2026-11-02T15:00:00Z") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the database has no tables yet: run `comms init`")
    assert "Traceback" not in err

    from comms.yamlload import DataFileError

    def bad(*args: object, **kwargs: object) -> None:
        raise DataFileError("config/workflows/expiring.yaml", 7, "steps", "must be a list")

    monkeypatch.setattr("workflows.cli.run_tick", bad)
    assert _main(monkeypatch, "tick") == 2
    assert capsys.readouterr().err == (
        "error: config/workflows/expiring.yaml:7: steps: must be a list\n"
    )

    a_file = tmp_path / "not-a-folder"
    a_file.write_text("")
    monkeypatch.setenv("COMMS_DATA_DIR", str(a_file / "var"))
    reset_settings_cache()
    assert _main(monkeypatch, "init") == 2
    assert capsys.readouterr().err.startswith(f"error: {a_file}")


def test_a_now_without_offset_is_the_organizations_day(
    monkeypatch: pytest.MonkeyPatch, _isolated_settings: Path
) -> None:
    """`--now 2026-06-01` in New York is 1 June there (it was read as UTC midnight, 31 May)."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("COMMS_TIMEZONE", "America/New_York")
    reset_settings_cache()
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(app, ["status", "--now", "2026-06-01", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["as_of"] == "2026-06-01"
