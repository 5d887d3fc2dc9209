"""Import a roster: validate every row first, then write all of it (or the good rows) at once.

Writes go through bulk statements so that a 100,000-row sheet imports in seconds. Importing
the same file again changes nothing: vendors are matched by email, else name; agents likewise;
policies by vendor, coverage and policy number.
"""

from __future__ import annotations

import csv
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import select
from sqlmodel import Session, col

from comms.errors import PermanentError
from comms.models import RequirementProfile, audit
from comms.projects import project_names
from comms.roster.ambiguity import ambiguous_rows, without_lines
from comms.roster.cells import cell_problems, csv_safe
from comms.roster.reader import RawSheet, read_sheet
from comms.roster.result import ImportResult
from comms.roster.rows import RowProblem, ValidRows
from comms.roster.validate import Progress, RowValidator
from comms.roster.writer import write_rows
from comms.stored_verdicts import org_day, refresh


class RosterError(PermanentError):
    """The roster has invalid rows; nothing was written."""

    code = "roster_rows"

    def __init__(self, path: Path, problems: list[RowProblem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s); nothing was imported")

    def lines(self) -> list[str]:
        return [p.format(str(self.path)) for p in self.problems]


def _open_rejected(path: Path) -> tuple[Path, TextIO]:
    """`FILE.rejected.csv` beside the input, created new: an earlier one is never overwritten
    (the next is `FILE.rejected-2.csv`, and so on)."""
    n = 1
    while True:
        name = f"{path.name}.rejected.csv" if n == 1 else f"{path.name}.rejected-{n}.csv"
        target = path.with_name(name)
        try:
            return target, target.open("x", newline="", encoding="utf-8")
        except FileExistsError:
            n += 1


def merged_rows(rows: ValidRows) -> list[str]:
    """The rows that describe the same policy (vendor, coverage and policy number) or the same
    vendor with no policy: imported as one, reported with their line numbers."""
    groups: dict[tuple[str, str | None, str | None, str | None], list[int]] = {}
    names: dict[tuple[str, str | None, str | None, str | None], str] = {}
    for line, party, terms, number, label in zip(
        rows.lines, rows.parties, rows.terms, rows.policy_numbers, rows.labels, strict=True
    ):
        who = (party.vendor_email or party.vendor_name).strip().lower()
        key = (who, terms.coverage, (number or "").strip().lower() or None, label)
        groups.setdefault(key, []).append(line)
        names.setdefault(key, party.vendor_name)
    out = []
    for key, lines in groups.items():
        if len(lines) < 2:
            continue
        _who, coverage, number, _label = key
        what = (
            f"{coverage.replace('_', ' ')}{' policy ' + number.upper() if number else ''}"
            if coverage
            else "no policy"
        )
        listed = ", ".join(str(n) for n in lines[:-1]) + f" and {lines[-1]}"
        out.append(f"lines {listed}: the same row ({names[key]}, {what}), merged into one")
    return out


def _write_rejected(sheet: RawSheet, problems: list[RowProblem]) -> Path:
    by_line: dict[int, list[str]] = {}
    for p in problems:
        by_line.setdefault(p.line, []).append(f"{p.column}: {p.message}")
    target, fh = _open_rejected(sheet.path)
    with fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "errors", *map(csv_safe, sheet.headers)])
        for line, values in zip(sheet.lines, sheet.rows, strict=True):
            if line in by_line:
                cells = ["" if v is None else csv_safe(v) for v in values]
                writer.writerow([line, csv_safe("; ".join(by_line[line])), *cells])
    return target


def validate_sheet(
    sheet: RawSheet,
    *,
    region: str,
    profiles: set[str],
    default_profile: str | None,
    progress: Progress | None = None,
    projects: frozenset[str] = frozenset(),
) -> tuple[ValidRows, list[RowProblem]]:
    validator = RowValidator(
        region=region,
        profiles=profiles,
        default_profile=default_profile,
        index=sheet.index,
        projects=projects,
    )
    return validator.validate(sheet.lines, sheet.rows, progress)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a sheet is in memory. Hundreds of thousands of
    row lists and tuples, none of them in a cycle, would make it walk them again and again
    (a third of a large import's time); reference counting still frees everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_roster(
    session: Session,
    path: Path,
    *,
    now: datetime,
    region: str = "US",
    skip_invalid: bool = False,
    default_profile: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import `path`. Raises RosterError, writing nothing, when any row is invalid
    (unless `skip_invalid`, which imports the good rows and writes the rejects beside it)."""
    with _gc_paused():
        return _import(
            session,
            path,
            now=now,
            region=region,
            skip_invalid=skip_invalid,
            default_profile=default_profile,
            progress=progress,
        )


def _import(
    session: Session,
    path: Path,
    *,
    now: datetime,
    region: str,
    skip_invalid: bool,
    default_profile: str | None,
    progress: Progress | None,
) -> ImportResult:
    sheet = read_sheet(path)
    profile_ids = {
        name: pid
        for pid, name in session.execute(
            select(col(RequirementProfile.id), col(RequirementProfile.name))
        )
    }
    rows, problems = validate_sheet(
        sheet,
        region=region,
        profiles=set(profile_ids),
        default_profile=default_profile,
        progress=progress,
        projects=frozenset(project_names(session)),
    )
    refused = cell_problems(sheet.headers, sheet.mapping, sheet.lines, sheet.rows)
    if refused:  # (before anything is looked up with them: PostgreSQL refuses a NUL)
        problems = sorted([*problems, *refused], key=lambda p: p.line)
        rows = without_lines(rows, {p.line for p in refused})
    ambiguous = ambiguous_rows(session, rows)
    if ambiguous:
        problems = sorted([*problems, *ambiguous], key=lambda p: p.line)
        rows = without_lines(rows, {p.line for p in ambiguous})
    result = ImportResult(path=path, rows=len(sheet.rows), unknown_headers=sheet.unknown_headers)
    if problems and not skip_invalid:
        raise RosterError(path, problems)
    if problems:
        result.problems = problems
        result.rejected_rows = len({p.line for p in problems})
        result.rejected_file = _write_rejected(sheet, problems)
    result.imported_rows = len(rows)
    result.merged = merged_rows(rows)
    sheet.lines, sheet.rows = [], []  # the raw cells are done with: free them before writing
    touched = write_rows(session, rows, profile_ids, now=now, source=path.name, result=result)
    refresh(session, touched, day=org_day(now), now=now, reason=f"roster import {path.name}")
    audit(
        session,
        action="roster.import",
        entity="roster",
        at=now,
        data={
            "file": str(path),
            "rows": result.rows,
            "imported": result.imported_rows,
            "rejected": result.rejected_rows,
            "vendors_created": result.vendors_created,
            "vendors_updated": result.vendors_updated,
            "policies_created": result.policies_created,
            "policies_updated": result.policies_updated,
        },
    )
    return result
