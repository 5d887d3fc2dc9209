"""Cells no roster may carry: control characters and spreadsheet formulas.

- A control character (NUL and the other C0 codes but tab, line feed and carriage return,
  and DEL) is refused: PostgreSQL cannot store a NUL, and none belongs in a name, an address
  or a number. Both backends refuse it the same way, as `FILE:LINE: column: …`.
- A cell that starts like a spreadsheet formula (`=`, `@`, or `+`/`-` not followed by a digit,
  a space, a parenthesis or a period: "+1 212…" and "-500" are a phone number and a number)
  is refused too: it would be stored as, say, a vendor name and later opened in Excel.
- `csv_safe` neutralizes a cell for a CSV file staff open in a spreadsheet (the OWASP
  CSV-injection rule: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a
  leading `'`). `FILE.rejected.csv` is written through it.

The sheet is checked in one pass over all its cells joined (C speed); only a sheet that has
such a cell is walked cell by cell to name them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

from comms.roster.rows import RowProblem

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORMULA_START = r"(?:[=@]|[+\-](?![\d .(]))"
_FORMULA = re.compile(rf"\A\s*{_FORMULA_START}")
_ANY_FORMULA = re.compile(rf"\n[ \t]*{_FORMULA_START}")  # (the first cell: `_FORMULA`)
_UNSAFE_START = ("=", "+", "-", "@", "\t", "\r")


def _suspect(rows: Sequence[Sequence[Any]]) -> bool:
    try:  # a CSV's cells are all text
        joined = "\n".join(chain.from_iterable(rows))
    except TypeError:  # a workbook's are not
        joined = "\n".join(v for v in chain.from_iterable(rows) if isinstance(v, str))
    return bool(_CONTROL.search(joined) or _FORMULA.match(joined) or _ANY_FORMULA.search(joined))


def cell_problems(
    headers: Sequence[str],
    mapping: Mapping[int, str],
    lines: Sequence[int],
    rows: Sequence[Sequence[Any]],
) -> list[RowProblem]:
    """A problem for each cell that holds a control character or starts like a formula
    (named by its column: `mapping`'s name, else the header)."""
    if not _suspect(rows):
        return []
    problems: list[RowProblem] = []
    for line, row in zip(lines, rows, strict=True):
        for i, value in enumerate(row):
            if not isinstance(value, str):
                continue
            column = mapping.get(i) or (headers[i] if i < len(headers) else "") or f"column {i + 1}"
            if found := _CONTROL.search(value):
                code = f"U+{ord(found.group()):04X}"
                problems.append(RowProblem(line, column, f"control character {code} in the cell"))
            elif _FORMULA.match(value) and _is_text_formula(value):
                problems.append(
                    RowProblem(
                        line,
                        column,
                        f"starts like a spreadsheet formula ({value.strip()[:20]!r}); not imported",
                    )
                )
    return problems


def _is_text_formula(value: str) -> bool:
    """`+`/`-` followed by a digit is a number or a phone number, not a formula: `_FORMULA`
    already says so; a lone "-" (an empty cell in some exports) is not one either."""
    return value.strip() not in ("-", "+", "--")


def csv_safe(value: Any) -> Any:
    """A cell as written to a CSV for a spreadsheet: text starting with a formula
    character gets a leading `'`."""
    if isinstance(value, str) and value.startswith(_UNSAFE_START):
        return "'" + value
    return value
