"""Control characters and spreadsheet formulas in roster cells: refused as
`FILE:LINE: column` problems on both backends (nothing written); neutralized in
`FILE.rejected.csv`."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from comms.app.cli import app
from comms.roster import RosterError
from comms.roster.cells import csv_safe
from tests.roster.test_import import GOOD_ROWS, HEADER, counts, do_import, write_csv

NUL_ROW = "Nul\x00 Roofing,nul@bad.example,212-555-0101,,,,standard,GL,X,N-1,01/01/2026,01/01/2027,1M,,,,,,"
BELL_ROW = (
    "Bell Co,bell@bad.example,212-555-0102,,,,standard,GL,X\x07,N-2,01/01/2026,01/01/2027,1M,,,,,,"
)
FORMULA_ROW = '"=HYPERLINK(""http://evil.example"",""click"")",f@bad.example,212-555-0103,,,,standard,GL,X,N-3,01/01/2026,01/01/2027,1M,,,,,,'
AT_ROW = (
    "@SUM(A1:A9),at@bad.example,212-555-0104,,,,standard,GL,X,N-4,01/01/2026,01/01/2027,1M,,,,,,"
)
MINUS_ROW = "-cmd|' /C calc'!A0,m@bad.example,212-555-0105,,,,standard,GL,X,N-5,01/01/2026,01/01/2027,1M,,,,,,"


def test_control_characters_and_formulas_are_refused_with_line_and_column(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "roster.csv", [*GOOD_ROWS, NUL_ROW, BELL_ROW, FORMULA_ROW, AT_ROW, MINUS_ROW]
    )
    with pytest.raises(RosterError) as info:
        do_import(profiles_loaded, path)
    lines = info.value.lines()
    first = len(GOOD_ROWS) + 2
    assert f"{path}:{first}: vendor_name: control character U+0000 in the cell" in lines
    assert f"{path}:{first + 1}: insurer: control character U+0007 in the cell" in lines
    for line in (first + 2, first + 3, first + 4):
        assert any(
            e.startswith(f"{path}:{line}: vendor_name: starts like a spreadsheet formula")
            for e in lines
        ), (line, lines)
    assert counts(profiles_loaded) == (0, 0, 0, 0)  # nothing written


def test_phone_numbers_and_negative_numbers_are_not_formulas(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "roster.csv", GOOD_ROWS)  # "+1 212 555 0142", "+16465550111"
    assert do_import(profiles_loaded, path).imported_rows == len(GOOD_ROWS)


def test_rejected_csv_neutralizes_formulas(profiles_loaded: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "roster.csv", [*GOOD_ROWS, FORMULA_ROW, AT_ROW, MINUS_ROW, NUL_ROW])
    result = do_import(profiles_loaded, path, skip_invalid=True)
    assert result.imported_rows == len(GOOD_ROWS) and result.rejected_rows == 4
    assert result.rejected_file is not None
    with result.rejected_file.open(newline="", encoding="utf-8") as fh:
        rejected = list(csv.DictReader(fh))
    names = [r["Vendor Name"] for r in rejected]
    assert names[:3] == [
        '\'=HYPERLINK("http://evil.example","click")',
        "'@SUM(A1:A9)",
        "'-cmd|' /C calc'!A0",
    ]
    for row in rejected:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_csv_safe() -> None:
    assert csv_safe("=1+2") == "'=1+2"
    assert csv_safe("+1 212 555 0142") == "'+1 212 555 0142"  # in a spreadsheet, also a formula
    assert csv_safe("Acme") == "Acme" and csv_safe(5) == 5


def test_xlsx_cells_are_checked_too(profiles_loaded: Engine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    sheet.append(["@cmd Co", "t@bad.example", "212-555-0106", *[""] * 4, "GL"])
    path = tmp_path / "roster.xlsx"
    book.save(path)
    with pytest.raises(RosterError) as info:
        do_import(profiles_loaded, path)
    assert any(": vendor_name: starts like a spreadsheet formula" in e for e in info.value.lines())


def test_cli_exit_2_on_a_nul(use_db: Engine, profiles_loaded: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "roster.csv", [*GOOD_ROWS, NUL_ROW])
    result = CliRunner().invoke(app, ["import", str(path)])
    assert result.exit_code == 2, result.output
    assert "control character U+0000" in result.output
    assert "Traceback" not in result.output
