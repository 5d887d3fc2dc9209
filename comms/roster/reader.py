"""Read roster rows from .csv or .xlsx: the header's field mapping, then each non-blank row's
line number and raw cells."""

from __future__ import annotations

import csv
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any

from comms.errors import PermanentError
from comms.roster.columns import map_headers


class RosterFileError(PermanentError):
    """The file itself cannot be read (not a row problem)."""

    code = "roster_file"


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


class _RosterCsv(csv.excel):
    """Excel's CSV conventions (a doubled quote is a quote inside a quoted cell), strictly:
    a malformed quote, or a quoted cell left open at the end of the file, is an error rather
    than a cell that silently swallows the rows after it."""

    strict = True
    skipinitialspace = True  # `a, "b, c"`: the space after a delimiter is not part of a cell


def _dialect(sample: str) -> type[csv.Dialect]:
    """The CSV dialect of a file beginning with ``sample``: only its delimiter is sniffed.

    The sniffer's other guesses are not trusted: it turns off doubled-quote handling when the
    sample happens to hold no ``""``, which would misread one further down the file.
    """
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return _RosterCsv
    return type("_SniffedCsv", (_RosterCsv,), {"delimiter": delimiter})


def _csv_rows_as(path: Path, encoding: str) -> tuple[Sequence[int], list[list[Any]]]:
    with path.open(newline="", encoding=encoding) as fh:
        dialect = _dialect(fh.read(4096))
        fh.seek(0)
        reader = csv.reader(fh, dialect)
        try:
            rows = list(reader)
            if reader.line_num == len(rows):  # one line per row: the usual sheet
                return range(1, len(rows) + 1), rows
        except csv.Error:
            pass  # read again below, row by row, to say where
        # A quoted cell spans lines (a row's number is that of its last line), or a row
        # cannot be read.
        fh.seek(0)
        reader = csv.reader(fh, dialect)
        lines: list[int] = []
        rows = []
        try:
            for row in reader:
                rows.append(row)
                lines.append(reader.line_num)
        except csv.Error as exc:
            start = (lines[-1] if lines else 0) + 1  # where the unreadable row begins
            raise _malformed(path, encoding, dialect, exc, start, reader.line_num) from None
    return lines, rows


def _malformed(
    path: Path,
    encoding: str,
    dialect: type[csv.Dialect],
    exc: csv.Error,
    start: int,
    line: int,
) -> RosterFileError:
    """The error for a CSV row that cannot be read: it begins on line ``start`` and the reader
    gave up on line ``line``. A quoted cell still open there is named by the line it opened on."""
    with path.open(newline="", encoding=encoding) as fh:
        text_lines = list(fh)
    opened = _open_quote_line(text_lines[start - 1 : line], start, dialect)
    if opened is not None:
        where = (
            "is never closed (it runs to the end of the file)"
            if line >= len(text_lines)
            else f"is still open on line {line}, where reading failed ({exc})"
        )
        return RosterFileError(
            f"{path}:{opened}: unclosed quote: the quoted cell opened on line {opened} {where}; "
            "close it or remove the stray quote"
        )
    if start < line:
        return RosterFileError(
            f"{path}:{line}: malformed CSV: {exc} (in the row that begins on line {start}; "
            f"check that line for a stray or unclosed quote)"
        )
    return RosterFileError(f"{path}:{line}: malformed CSV: {exc}")


def _open_quote_line(lines: list[str], first: int, dialect: type[csv.Dialect]) -> int | None:
    """The line on which a quoted cell still open at the end of ``lines`` opened (None when no
    cell is open). ``lines`` begin at file line ``first``, at the start of a row."""
    quote, delimiter = dialect.quotechar, dialect.delimiter
    opened: int | None = None
    cell_start = True
    for number, line in enumerate(lines, first):
        i = 0
        while i < len(line):
            ch = line[i]
            if opened is not None:  # inside a quoted cell
                if ch == quote:
                    if line[i + 1 : i + 2] == quote:  # a doubled quote: a quote character
                        i += 1
                    else:
                        opened, cell_start = None, False
            elif ch == quote and cell_start:
                opened = number
            else:
                cell_start = ch in (delimiter, "\r", "\n")
            i += 1
    return opened


# What a damaged workbook raises while it is opened or read: a broken zip (BadZipFile, a bad
# CRC as BadZipFile, truncated deflate data as zlib.error or EOFError), a missing part
# (KeyError), malformed XML (ElementTree's ParseError, or lxml's, both SyntaxErrors), bad
# values (ValueError, TypeError).
_BROKEN_XLSX = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    KeyError,
    OSError,
    ValueError,
    TypeError,
    SyntaxError,
)


def _xlsx_rows(path: Path) -> tuple[Sequence[int], list[list[Any]]]:
    """The rows of the first sheet, every row as wide as the widest (blank cells None)."""
    # Lazy: openpyxl takes a few hundred milliseconds to import and only .xlsx rosters need it.
    from openpyxl import load_workbook
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except _BROKEN_XLSX as exc:
        raise RosterFileError(f"{path}: not a readable .xlsx workbook: {exc}") from None
    try:
        if not workbook.worksheets:
            raise RosterFileError(f"{path}: the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        if isinstance(sheet, ReadOnlyWorksheet):
            # The sheet's <dimension> tag is written by the producing application and may be
            # stale; read-only mode trusts it and would stop at its last row. Read every row.
            sheet.reset_dimensions()
        try:
            rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        except _BROKEN_XLSX as exc:
            raise RosterFileError(
                f"{path}: worksheet {sheet.title!r} cannot be read: {type(exc).__name__}: {exc}"
            ) from None
    finally:
        workbook.close()
    width = max(map(len, rows), default=0)
    for row in rows:
        row.extend([None] * (width - len(row)))
    return range(1, len(rows) + 1), rows


def _blank(values: list[Any]) -> bool:
    return not any(v is not None and str(v).strip() for v in values)


def _content_kind(path: Path) -> str | None:
    """What the file's first bytes say it is, when that is not text: `zip` (an .xlsx workbook
    is a zip), `xls` (the old Excel format), `pdf`."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if head.startswith(b"%PDF"):
        return "pdf"
    return None


def read_sheet(path: Path) -> RawSheet:
    if path.is_dir():
        raise RosterFileError(
            f"{path}: a folder, not a roster file; give one .csv or .xlsx file inside it"
        )
    if not path.is_file():
        raise RosterFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv" or suffix == ".txt":
        kind = _content_kind(path)
        if kind == "zip":
            raise RosterFileError(
                f"{path}: this is an Excel workbook (.xlsx), not CSV text; rename it to"
                f" {path.with_suffix('.xlsx').name} or save it as CSV"
            )
        if kind in ("xls", "pdf"):
            what = "an old Excel .xls workbook" if kind == "xls" else "a PDF"
            raise RosterFileError(f"{path}: {what}, not CSV text; save the roster as .csv or .xlsx")
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
