"""Rows that name a vendor without its email when that name is more than one vendor's.

A row without the vendor's email is the vendor of that name (`comms.roster.writer`): the one
in the file that gives an email, when just one does, else the one on file. When two emails go
with the name (in the file, or on file with none in the file), the row cannot say which vendor
it is. Attaching its policy to either, or to a third vendor that can never be emailed, would be
a silent guess, so the row is a problem of its own (`vendor_email`), reported with its line
like any invalid row: the import stops, or with `--skip-invalid` the row goes to the
rejected file.
"""

from __future__ import annotations

from itertools import compress

from sqlalchemy import select
from sqlmodel import Session, col

from comms.models import Vendor
from comms.roster.rows import Party, RowProblem, ValidRows
from comms.roster.writer import match_key


def _name(name: str | None) -> str:
    return match_key(None, name)  # as the writer matches a vendor by name


def ambiguous_rows(session: Session, rows: ValidRows) -> list[RowProblem]:
    """The rows whose vendor is named but not emailed, where the name is several vendors'."""
    parties = list(dict.fromkeys(rows.parties))
    unnamed = {_name(p.vendor_name) for p in parties if not p.vendor_email}
    if not unnamed:
        return []
    emails: dict[str, set[str]] = {}  # name → the emails the file gives it
    for party in parties:
        if party.vendor_email and (name := _name(party.vendor_name)) in unnamed:
            emails.setdefault(name, set()).add(party.vendor_email.lower())
    count = {name: len(found) for name, found in emails.items()}
    if unnamed - count.keys():  # names the file never emails: the vendors on file decide
        on_file: dict[str, int] = {}
        for name, _email in session.connection().execute(
            select(col(Vendor.name), col(Vendor.email))
        ):
            if (key := _name(name)) in unnamed and key not in count:
                on_file[key] = on_file.get(key, 0) + 1
        count.update(on_file)
    ambiguous = {name: n for name, n in count.items() if n > 1}
    if not ambiguous:
        return []
    return [
        _problem(line, party, ambiguous[_name(party.vendor_name)])
        for line, party in zip(rows.lines, rows.parties, strict=True)
        if not party.vendor_email and _name(party.vendor_name) in ambiguous
    ]


def _problem(line: int, party: Party, vendors: int) -> RowProblem:
    return RowProblem(
        line,
        "vendor_email",
        f"is required here: {vendors} vendors are named {party.vendor_name!r} (in this file or"
        " on file), and without the email the row cannot say which one it is",
    )


def without_lines(rows: ValidRows, lines: set[int]) -> ValidRows:
    """`rows` less those of `lines`."""
    keep = [line not in lines for line in rows.lines]
    out = ValidRows()
    for target, column in zip(out.columns(), rows.columns(), strict=True):
        target.extend(compress(column, keep))
    return out
