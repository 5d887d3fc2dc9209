"""Roster files that used to be misread silently: an unclosed quote, a doubled quote after the
sniffer's sample, a stale xlsx <dimension>, and damaged xlsx XML."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from comms.models import Vendor
from comms.roster.reader import RosterFileError, read_sheet
from tests.roster.test_import import do_import

HEADER = "Vendor Name,Vendor E-mail,Profile"


def vendor_line(i: int) -> str:
    return f"Vendor {i:04d} LLC,v{i}@vendors.example,standard"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def vendor_count(db: Engine) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).select_from(Vendor)).one()


# --- CSV: quotes ----------------------------------------------------------------------------


def test_unclosed_quote_names_the_file_and_the_line_it_opened_on(tmp_path: Path) -> None:
    path = write(
        tmp_path / "roster.csv",
        [vendor_line(1), '"Acme Roofing LLC,ops@acme.example,standard', vendor_line(2)],
    )
    with pytest.raises(RosterFileError) as info:
        read_sheet(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3: unclosed quote")
    assert "opened on line 3" in message and "end of the file" in message


def test_unclosed_quote_imports_nothing(profiles_loaded: Engine, tmp_path: Path) -> None:
    rows = [vendor_line(i) for i in range(5)]
    rows.insert(2, '"Acme Roofing LLC,ops@acme.example,standard')
    path = write(tmp_path / "roster.csv", rows)
    with pytest.raises(RosterFileError, match=r"roster\.csv:4: unclosed quote"):
        do_import(profiles_loaded, path)
    assert vendor_count(profiles_loaded) == 0


def test_unclosed_quote_after_a_quoted_cell_that_spans_lines(tmp_path: Path) -> None:
    """The row begins on line 2 with a legitimate two-line cell; the stray quote is on line 3."""
    path = tmp_path / "roster.csv"
    path.write_text(
        'Vendor Name,Notes,Vendor E-mail\nAcme,"two\nlines","ops@acme.example\nBeta,x,b@x.example\n'
    )
    with pytest.raises(RosterFileError, match=re.escape(f"{path}:3: unclosed quote")):
        read_sheet(path)


def test_unclosed_quote_in_a_long_file_is_named_where_it_opened(tmp_path: Path) -> None:
    """So many rows follow that the swallowed cell outgrows the csv field limit first."""
    rows = [vendor_line(1), '"Acme Roofing LLC,ops@acme.example,standard']
    rows += [vendor_line(i) for i in range(2, 6000)]
    path = write(tmp_path / "roster.csv", rows)
    with pytest.raises(RosterFileError, match=re.escape(f"{path}:3: unclosed quote")):
        read_sheet(path)


def test_a_quote_closed_later_by_another_row_is_an_error_naming_both_lines(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "roster.csv",
        ['"Acme Roofing LLC,ops@acme.example,standard', vendor_line(1), '"Gamma",g@x.example,x'],
    )
    with pytest.raises(RosterFileError) as info:
        read_sheet(path)
    message = str(info.value)
    assert message.startswith(f"{path}:4: malformed CSV")
    assert "begins on line 2" in message


def test_doubled_quotes_after_the_sniffed_sample_are_one_quote(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    rows = [vendor_line(i) for i in range(200)]  # well past the 4 KB sniffer sample
    rows.append('"Bob ""The Builder"" LLC",bob@builder.example,standard')
    path = write(tmp_path / "roster.csv", rows)
    assert path.stat().st_size > 8192
    sheet = read_sheet(path)
    assert sheet.rows[-1][0] == 'Bob "The Builder" LLC'
    assert sheet.lines[-1] == 202
    do_import(profiles_loaded, path)
    with Session(profiles_loaded) as s:
        bob = s.exec(select(Vendor).where(Vendor.email == "bob@builder.example")).one()
        assert bob.name == 'Bob "The Builder" LLC'


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_delimiter_is_still_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        delimiter.join(["Vendor Name", "Vendor E-mail"])
        + "\n"
        + delimiter.join(['"Bob ""B"" LLC"', "b@x.example"])
        + "\n"
        + delimiter.join(["Acme", "a@x.example"])
        + "\n"
    )
    sheet = read_sheet(path)
    assert sheet.rows == [['Bob "B" LLC', "b@x.example"], ["Acme", "a@x.example"]]


def test_a_space_after_the_comma_keeps_quoted_cells_whole(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        'Vendor Name, Vendor Email, Agent Name\n"Acme, Inc.", ops@acme.example, "Smith, John"\n'
    )
    sheet = read_sheet(path)
    assert sheet.rows == [["Acme, Inc.", "ops@acme.example", "Smith, John"]]


def test_a_quoted_cell_spanning_lines_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text('Vendor Name,Notes\nAcme,"call\nfirst"\nBeta,x\n')
    sheet = read_sheet(path)
    assert sheet.rows == [["Acme", "call\nfirst"], ["Beta", "x"]]
    assert sheet.lines == [3, 4]


# --- XLSX -----------------------------------------------------------------------------------


def _workbook(path: Path, vendors: int) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Vendor Name", "Vendor E-mail", "Profile", *(f"Extra {i}" for i in range(15))])
    for i in range(vendors):
        ws.append([f"Vendor {i:02d} LLC", f"v{i}@vendors.example", "standard", *([None] * 15)])
    wb.save(path)
    return path


def _rewrite(path: Path, member: str, change: Callable[[bytes], bytes]) -> Path:
    """``path`` with one zip member's bytes changed (written to a sibling file)."""
    out = path.with_name(f"changed-{path.name}")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, change(data) if item.filename == member else data)
    return out


def _stale(data: bytes) -> bytes:
    stale, n = re.subn(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:R4"', data)
    assert n == 1
    return stale


def test_stale_dimension_reads_every_row(profiles_loaded: Engine, tmp_path: Path) -> None:
    good = _workbook(tmp_path / "roster.xlsx", vendors=14)
    path = _rewrite(good, "xl/worksheets/sheet1.xml", _stale)
    sheet = read_sheet(path)
    assert len(sheet.rows) == 14 and sheet.lines == list(range(2, 16))
    assert {len(row) for row in sheet.rows} == {18}  # padded to the widest row
    result = do_import(profiles_loaded, path)
    assert result.imported_rows == 14
    assert vendor_count(profiles_loaded) == 14


@pytest.mark.parametrize("member", ["xl/worksheets/sheet1.xml", "xl/workbook.xml"])
def test_corrupt_xml_is_a_roster_file_error_naming_the_file(tmp_path: Path, member: str) -> None:
    good = _workbook(tmp_path / "roster.xlsx", vendors=3)
    path = _rewrite(good, member, lambda data: data[: len(data) // 2])
    with pytest.raises(RosterFileError) as info:
        read_sheet(path)
    assert str(info.value).startswith(f"{path}: ")
