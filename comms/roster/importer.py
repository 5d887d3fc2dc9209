"""Import a roster: validate it a chunk at a time, staging the valid rows, then write them a
batch of vendors at a time, all in the caller's one transaction (all or nothing).

The sheet is read, validated and staged (`comms.roster.stage`, a temporary table) a chunk of
rows at a time, so memory follows the chunk, not the file; what needs the whole file (rows
whose vendor cannot be told apart, repeated rows, rows without an email joining the vendor
that has one) is asked of the staged rows. Any problem, and nothing is written (unless
`skip_invalid`): every problem of the file is still found and reported first. Importing the
same file again changes nothing: vendors are matched by email, else name; agents likewise;
policies by vendor, coverage and policy number.
"""

from __future__ import annotations

import contextlib
import csv
from datetime import datetime
from itertools import compress
from pathlib import Path
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from comms.errors import PermanentError
from comms.models import RequirementProfile, audit
from comms.projects import project_names
from comms.roster import validate
from comms.roster.ambiguity import ambiguous_rows
from comms.roster.cells import cell_problems, csv_safe
from comms.roster.reader import open_sheet
from comms.roster.result import ImportResult
from comms.roster.rows import RowProblem, ValidRows
from comms.roster.stage import Stage
from comms.roster.validate import Progress, RowValidator
from comms.roster.writer import VendorCodes, write_agents, write_batch
from comms.stored_verdicts import org_day, refresh

VENDORS_PER_BATCH = 1000


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


def _write_rejected(path: Path, problems: list[RowProblem]) -> Path:
    """`FILE.rejected.csv`: each rejected row (read again from the file) with its problems."""
    by_line: dict[int, list[str]] = {}
    for p in problems:
        by_line.setdefault(p.line, []).append(f"{p.column}: {p.message}")
    sheet = open_sheet(path)
    target, fh = _open_rejected(path)
    with fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "errors", *map(csv_safe, sheet.headers)])
        for line, values in sheet.rows:
            if line in by_line:
                cells = ["" if v is None else csv_safe(v) for v in values]
                cells.extend([""] * (len(sheet.headers) - len(cells)))
                writer.writerow([line, csv_safe("; ".join(by_line[line])), *cells])
    return target


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
    stage = Stage(session.connection())
    try:
        return _import(
            session,
            stage,
            path,
            now=now,
            region=region,
            skip_invalid=skip_invalid,
            default_profile=default_profile,
            progress=progress,
        )
    finally:
        with contextlib.suppress(SQLAlchemyError):  # (a failed transaction drops them anyway)
            stage.close()


# What an import writes to: the tables whose statistics it keeps current on PostgreSQL.
WRITTEN = ("agent", "vendor", "certificate", "policy", "vendor_verdict", "verdict_change")
ANALYZE_FROM = 10_000  # rows: a smaller import leaves the statistics to autovacuum


def _analyze(session: Session) -> None:
    """PostgreSQL: the planner's statistics of the tables the import writes to, sampled in
    the import's own transaction (its rows included). Without them, a table that was empty
    when last analyzed looks as if `vendor_id IN (…)` matched all of it, and each batch's
    reads (its vendors' policies, certificates) scan the table: a million vendors would
    take quadratic time. The commit keeps them, so the commands after an import plan well
    before autovacuum comes round."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        for table in WRITTEN:
            conn.exec_driver_sql(f'ANALYZE "{table}"')


def without_lines(rows: ValidRows, lines: set[int]) -> ValidRows:
    """`rows` less those of `lines`."""
    keep = [line not in lines for line in rows.lines]
    out = ValidRows()
    for target, column in zip(out.columns(), rows.columns(), strict=True):
        target.extend(compress(column, keep))
    return out


def _import(
    session: Session,
    stage: Stage,
    path: Path,
    *,
    now: datetime,
    region: str,
    skip_invalid: bool,
    default_profile: str | None,
    progress: Progress | None,
) -> ImportResult:
    sheet = open_sheet(path)
    profile_ids = {
        name: pid
        for pid, name in session.execute(
            select(col(RequirementProfile.id), col(RequirementProfile.name))
        )
    }
    validator = RowValidator(
        region=region,
        profiles=set(profile_ids),
        default_profile=default_profile,
        index=sheet.index,
        projects=frozenset(project_names(session)),
    )
    problems: list[RowProblem] = []
    total = 0
    reported = (0, 0)
    for lines, raw in sheet.chunks(validate.CHUNK):
        total += len(raw)
        valid, found = validator.validate(lines, raw)
        refused = cell_problems(sheet.headers, sheet.mapping, lines, raw)
        if refused:  # (before anything is looked up with them: PostgreSQL refuses a NUL)
            found = sorted([*found, *refused], key=lambda p: p.line)
            valid = without_lines(valid, {p.line for p in refused})
        problems.extend(found)
        stage.add(valid)
        validator.trim()
        if progress is not None:
            reported = (total, max(total, sheet.estimate))
            progress(*reported)
    if progress is not None and reported != (total, total):
        progress(total, total)
    stage.loaded()
    ambiguous = ambiguous_rows(session, stage)
    if ambiguous:
        problems = sorted([*problems, *ambiguous], key=lambda p: p.line)
        stage.drop_lines([p.line for p in ambiguous])
    result = ImportResult(path=path, rows=total, unknown_headers=sheet.unknown_headers)
    if problems and not skip_invalid:
        raise RosterError(path, problems)
    if problems:
        result.problems = problems
        result.rejected_rows = len({p.line for p in problems})
        result.rejected_file = _write_rejected(path, problems)
    result.imported_rows = stage.count()
    result.merged = stage.merged()
    stage.fold_vendors()
    write_agents(session, stage, now=now, result=result)
    codes = VendorCodes(session)
    day = org_day(now)
    large = result.imported_rows >= ANALYZE_FROM
    for n, batch in enumerate(stage.vendor_batches(VENDORS_PER_BATCH), 1):
        touched = write_batch(
            session, stage, batch, profile_ids, codes, now=now, source=path.name, result=result
        )
        refresh(session, touched, day=day, now=now, reason=f"roster import {path.name}")
        if large and n & (n - 1) == 0:  # after batch 1, 2, 4, 8, …: while the tables grow
            _analyze(session)
    if large:
        _analyze(session)
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
