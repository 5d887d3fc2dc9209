"""Fuzzing `comms extract` with a bounded mutation loop of a real certificate: no traceback,
only the documented exit codes (0 read, 2 refused with one line, 3 not an ACORD 25)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from comms.app.cli import app
from tests.conftest import SAMPLES
from tests.support.mutate import mutations

CASES = 8


def test_mutated_certificates(tmp_path: Path) -> None:
    good = (SAMPLES / "acord25" / "acord_25_2016_03_sample.pdf").read_bytes()
    runner = CliRunner()
    for i, data in enumerate(mutations(good, CASES, seed=19)):
        path = tmp_path / f"case{i}.pdf"
        path.write_bytes(data)
        result = runner.invoke(app, ["extract", str(path), "--json", "--timeout", "20"])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            i,
            result.exception,
        )
        assert "Traceback" not in result.output, (i, result.output)
        assert result.exit_code in (0, 2, 3), (i, result.exit_code, result.output)
        if result.exit_code == 2:
            assert result.output.count("\n") <= 2, result.output
