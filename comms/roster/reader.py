"""Read roster rows from .csv or .xlsx: the header's field mapping, then each non-blank row's
line number and raw cells."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any

from comms.roster.columns import map_headers


class RosterFileError(Exception):
    """The file itself cannot be read (not a row problem)."""


@dataclass
class RawSheet:
    path: Path
    headers: list[str]
    mapping: dict[int, str]
    unknown_headers: list[str]
    lines: list[int] = field(default_factory=list)  # the file line of each row
    rows: list[list[Any]] = field(default_factory=list)

    @property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in self.mapping.items()}


def _csv_rows(path: Path) -> tuple[Sequence[int], list[list[Any]]]:
    """The rows of a UTF-8 (else Windows-1252) CSV, with the file line each ends on."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return _csv_rows_as(path, encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFileError(f"{path}: cannot decode as UTF-8 or Windows-1252")


def _csv_rows_as(path: Path, encoding: str) -> tuple[Sequence[int], list[list[Any]]]:
    with path.open(newline="", encoding=encoding) as fh:
        try:
            dialect: Any = csv.Sniffer().sniff(fh.read(4096), delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        fh.seek(0)
        reader = csv.reader(fh, dialect)
        try:
            rows = list(reader)
            if reader.line_num == len(rows):  # one line per row: the usual sheet
                return range(1, len(rows) + 1), rows
            # A quoted cell spans lines: a row's number is that of its last line.
            fh.seek(0)
            reader = csv.reader(fh, dialect)
            pairs = [(reader.line_num, row) for row in reader]
            return [n for n, _ in pairs], [row for _, row in pairs]
        except csv.Error as exc:
            raise RosterFileError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None


def _xlsx_rows(path: Path) -> tuple[Sequence[int], list[list[Any]]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise RosterFileError(f"{path}: not a readable .xlsx workbook: {exc}") from None
    try:
        rows = [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()
    return range(1, len(rows) + 1), rows


def _blank(values: list[Any]) -> bool:
    return not any(v is not None and str(v).strip() for v in values)


def read_sheet(path: Path) -> RawSheet:
    if not path.is_file():
        raise RosterFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv" or suffix == ".txt":
        lines, rows = _csv_rows(path)
        text_only = True
    elif suffix in (".xlsx", ".xlsm"):
        lines, rows = _xlsx_rows(path)
        text_only = False
    else:
        raise RosterFileError(f"{path}: unsupported file type {suffix!r}; use .csv or .xlsx")
    first = next((i for i, values in enumerate(rows) if not _blank(values)), None)
    if first is None:
        raise RosterFileError(f"{path}: the file is empty")
    headers = ["" if v is None else str(v) for v in rows[first]]
    mapping, unknown = map_headers(headers)
    if "vendor_name" not in mapping.values():
        raise RosterFileError(f"{path}:{lines[first]}: no vendor_name column in the header row")
    sheet = RawSheet(path=path, headers=headers, mapping=mapping, unknown_headers=unknown)
    lines, rows = lines[first + 1 :], rows[first + 1 :]
    if text_only:  # every cell a str: a row is blank when its joined cells strip to nothing
        keep: Iterable[Any] = map(str.strip, map("".join, rows))
    else:
        keep = [not _blank(values) for values in rows]
    keep = list(keep)
    sheet.lines = list(compress(lines, keep))
    sheet.rows = list(compress(rows, keep))
    return sheet
