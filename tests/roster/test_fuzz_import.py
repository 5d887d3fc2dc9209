"""Fuzzing `comms import` with a bounded mutation loop of a good roster, on both backends:
no traceback, only the documented exit codes (0 imported, 2 refused), and nothing written
from a refused file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from comms.app.cli import app
from tests.roster.test_import import GOOD_ROWS, HEADER, counts
from tests.support.mutate import mutations

CASES = 25


def test_mutated_rosters(use_db: Engine, profiles_loaded: Engine, tmp_path: Path) -> None:
    good = (HEADER + "\n" + "\n".join(GOOD_ROWS) + "\n").encode()
    runner = CliRunner()
    codes: set[int] = set()
    for i, data in enumerate(mutations(good, CASES, seed=15)):
        path = tmp_path / f"case{i}.csv"
        path.write_bytes(data)
        before = counts(profiles_loaded)
        result = runner.invoke(app, ["import", str(path)])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            i,
            data,
            result.exception,
        )
        assert "Traceback" not in result.output, (i, result.output)
        assert result.exit_code in (0, 2), (i, result.exit_code, result.output)
        if result.exit_code != 0:
            assert counts(profiles_loaded) == before, (i, result.output)
        codes.add(result.exit_code)
    assert codes == {0, 2}  # the loop reached both sides
