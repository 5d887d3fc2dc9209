"""Read roster rows from .csv or .xlsx: the header's field mapping, then each non-blank row's
line number and raw cells, streamed a chunk at a time (`open_sheet`): memory follows the
chunk, not the file. `read_sheet` reads a whole (small) sheet into lists."""

from __future__ import annotations

import codecs
import csv
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
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


Row = tuple[int, list[Any]]  # a row's file line and its cells
_SCAN = 1 << 20  # bytes read at a time by the encoding check


def _csv_encoding(path: Path) -> tuple[str, int]:
    """UTF-8 (with or without a byte order mark), else Windows-1252: whichever decodes the
    whole file, checked a block at a time; and how many line feeds it holds (the size of a
    progress bar)."""
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        lines = 0
        try:
            with path.open("rb") as fh:
                while block := fh.read(_SCAN):
                    decoder.decode(block)
                    lines += block.count(b"\n")
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding, lines
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


def _csv_stream(path: Path, encoding: str) -> Iterator[Row]:
    """Each CSV row with the file line it ends on (a quoted cell may span lines)."""
    with path.open(newline="", encoding=encoding) as fh:
        dialect = _dialect(fh.read(4096))
        fh.seek(0)
        reader = csv.reader(fh, dialect)
        last = 0  # the line the previous row ended on
        try:
            for row in reader:
                last = reader.line_num
                yield last, row
        except csv.Error as exc:
            raise _malformed(path, encoding, dialect, exc, last + 1, reader.line_num) from None


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
        text_lines = list(islice(fh, start - 1, line))
        at_end = next(fh, None) is None
    opened = _open_quote_line(text_lines, start, dialect)
    if opened is not None:
        where = (
            "is never closed (it runs to the end of the file)"
            if at_end
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


def _xlsx_stream(path: Path) -> Iterator[Row]:
    """The rows of the first sheet, read as they come (blank cells None)."""
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
            for line, row in enumerate(sheet.iter_rows(values_only=True), 1):
                yield line, list(row)
        except _BROKEN_XLSX as exc:
            raise RosterFileError(
                f"{path}: worksheet {sheet.title!r} cannot be read: {type(exc).__name__}: {exc}"
            ) from None
    finally:
        workbook.close()


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


def _text_blank(values: list[Any]) -> bool:
    return not "".join(values).strip()


@dataclass
class SheetStream:
    """A sheet being read: its header, then its non-blank rows a chunk at a time."""

    path: Path
    headers: list[str]
    mapping: dict[int, str]
    unknown_headers: list[str]
    rows: Iterator[Row]
    estimate: int = 0  # about how many rows follow (for a progress bar)

    @property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in self.mapping.items()}

    def chunks(self, size: int) -> Iterator[tuple[list[int], list[list[Any]]]]:
        """(lines, rows) of up to `size` rows at a time."""
        while batch := list(islice(self.rows, size)):
            lines, rows = zip(*batch, strict=True)
            yield list(lines), list(rows)


def _file_rows(path: Path) -> tuple[Iterator[Row], bool, int]:
    """Every row of the file with its line; whether its cells are all text; about how many
    rows it has."""
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
        encoding, lines = _csv_encoding(path)
        return _csv_stream(path, encoding), True, lines
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_stream(path), False, 0
    raise RosterFileError(f"{path}: unsupported file type {suffix!r}; use .csv or .xlsx")


def open_sheet(path: Path) -> SheetStream:
    """The sheet's header (its first non-blank row) read, its rows to follow."""
    rows, text_only, estimate = _file_rows(path)
    blank = _text_blank if text_only else _blank
    for line, values in rows:
        if blank(values):
            continue
        headers = ["" if v is None else str(v) for v in values]
        mapping, unknown = map_headers(headers)
        if "vendor_name" not in mapping.values():
            raise RosterFileError(f"{path}:{line}: no vendor_name column in the header row")
        data = ((n, row) for n, row in rows if not blank(row))
        return SheetStream(path, headers, mapping, unknown, data, max(estimate - line, 0))
    raise RosterFileError(f"{path}: the file is empty")


def read_sheet(path: Path) -> RawSheet:
    """The whole sheet in memory (a workbook's rows padded to the widest)."""
    stream = open_sheet(path)
    sheet = RawSheet(
        path=path,
        headers=stream.headers,
        mapping=stream.mapping,
        unknown_headers=stream.unknown_headers,
    )
    for line, row in stream.rows:
        sheet.lines.append(line)
        sheet.rows.append(row)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        width = max([len(stream.headers), *map(len, sheet.rows)])
        for row in sheet.rows:
            row.extend([None] * (width - len(row)))
    return sheet
