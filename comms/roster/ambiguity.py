"""Rows that name a vendor without its email when that name is more than one vendor's.

A row without the vendor's email is the vendor of that name (`comms.roster.writer`): the one
in the file that gives an email, when just one does, else the one on file. When two emails go
with the name (in the file, or on file with none in the file), the row cannot say which vendor
it is. Attaching its policy to either, or to a third vendor that can never be emailed, would be
a silent guess, so the row is a problem of its own (`vendor_email`), reported with its line
like any invalid row: the import stops, or with `--skip-invalid` the row goes to the
rejected file. Asked of the staged rows (`comms.roster.stage`), a page of names at a time.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session, SQLModel

from comms.roster.rows import RowProblem
from comms.roster.stage import PAGE, Stage, ambiguous_problem, match_key


def _on_file_counts(session: Session, names: dict[str, str]) -> dict[str, int]:
    """How many vendors on file have each name (`nkey` → a name as given), ignoring case."""
    table = SQLModel.metadata.tables["vendor"]
    given = sorted(set(names.values()))
    lowered = sorted(k[2:] for k in names)
    ids: dict[str, set[int]] = {}
    for column, values in ((table.c.name, given), (func.lower(table.c.name), lowered)):
        for i in range(0, len(values), PAGE):
            query = select(table.c.id, table.c.name).where(column.in_(values[i : i + PAGE]))
            for vid, name in session.connection().execute(query):
                if (key := match_key(None, name)) in names:
                    ids.setdefault(key, set()).add(vid)
    return {key: len(found) for key, found in ids.items()}


def ambiguous_rows(session: Session, stage: Stage) -> list[RowProblem]:
    """The staged rows whose vendor is named but not emailed, where the name is several
    vendors' (by the emails the file gives it, else by the vendors on file), in line order."""
    count = stage.names_emailed_twice()
    for page in stage.names_never_emailed():
        for key, n in _on_file_counts(session, dict(page)).items():
            if n > 1:
                count[key] = n
    if not count:
        return []
    return [
        ambiguous_problem(line, name, count[nkey])
        for line, name, nkey in stage.unemailed_rows(sorted(count))
    ]
