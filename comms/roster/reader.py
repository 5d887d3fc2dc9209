"""Read roster rows from .csv or .xlsx, as (line number, {field: raw value})."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)

    @property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in self.mapping.items()}


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFileError(f"{path}: cannot decode as UTF-8 or Windows-1252")


def _csv_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    text = _decode(path.read_bytes(), path)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        for row in reader:
            yield reader.line_num, list(row)
    except csv.Error as exc:
        raise RosterFileError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise RosterFileError(f"{path}: not a readable .xlsx workbook: {exc}") from None
    try:
        sheet = workbook.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(row)
    finally:
        workbook.close()


def read_sheet(path: Path) -> RawSheet:
    if not path.is_file():
        raise RosterFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv" or suffix == ".txt":
        rows = _csv_rows(path)
    elif suffix in (".xlsx", ".xlsm"):
        rows = _xlsx_rows(path)
    else:
        raise RosterFileError(f"{path}: unsupported file type {suffix!r}; use .csv or .xlsx")
    header_line = 0
    headers: list[str] = []
    for line, values in rows:
        if any(v not in (None, "") for v in values):
            header_line = line
            headers = ["" if v is None else str(v) for v in values]
            break
    if not headers:
        raise RosterFileError(f"{path}: the file is empty")
    mapping, unknown = map_headers(headers)
    if "vendor_name" not in mapping.values():
        raise RosterFileError(f"{path}:{header_line}: no vendor_name column in the header row")
    sheet = RawSheet(path=path, headers=headers, mapping=mapping, unknown_headers=unknown)
    for line, values in rows:
        if not values:
            continue
        if all(isinstance(v, str) for v in values):
            if not "".join(values).strip():
                continue
        elif not any(v is not None and str(v).strip() for v in values):
            continue
        sheet.rows.append((line, values))
    return sheet
