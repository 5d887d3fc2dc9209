"""The import's staging table: every valid row of the sheet, written a chunk at a time as it
is validated, so that what needs the whole file is asked of the database, not held in memory.

`roster_stage` is a temporary table of the import's own connection and transaction (on
PostgreSQL it is dropped at commit; on SQLite when the import ends). Each row keeps its
parsed values and its keys: `vkey`, the vendor it names (`e:EMAIL`, else `n:NAME`, see
`comms.roster.writer.match_key`), `nkey` (`n:NAME` always), `akey`/`ankey` for its agent.
From it come, in SQL: the rows whose vendor cannot be told apart (`ambiguous`), the rows that
repeat one policy (`merged`), the rows without an email folded into the vendor of that name
that has one (`fold_vendors`), the agents (`agents`), and the vendors a batch at a time with
all their rows together (`vendor_batches`), in the order the file first names them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import Connection

from comms.roster.bulk import copy_rows
from comms.roster.combos import PARTY_COLUMNS
from comms.roster.rows import Party, RowProblem, Terms, ValidRows

_PARTY = PARTY_COLUMNS  # the party cells, in the order the validator reads them
_TERMS = (
    "coverage",
    "effective_date",
    "expiration_date",
    "limits",
    "additional_insured",
    "subrogation_waived",
    "occurrence",
)
_EXTRA = ("policy_number", "label", "insurer", "naic")
_KEYS = ("line", "vkey", "nkey", "akey", "ankey", "numkey")
COLUMNS = (*_KEYS, *_PARTY, *_TERMS, *_EXTRA)
_INTEGER = {"line", "folded", "additional_insured", "subrogation_waived", "occurrence"}
PAGE = 500  # keys per IN list


def match_key(email: str | None, name: str | None) -> str:
    """How vendors (and agents) are matched: by email, else by name, ignoring case."""
    return f"e:{email.lower()}" if email else f"n:{(name or '').strip().lower()}"


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _party_cells(party: Party) -> tuple[Any, ...]:
    has_agent = party.agent_name or party.agent_email
    return (
        match_key(party.vendor_email, party.vendor_name),
        match_key(None, party.vendor_name),
        match_key(party.agent_email, party.agent_name) if has_agent else None,
        match_key(None, party.agent_name or party.agent_email) if has_agent else None,
        party.vendor_name,
        party.vendor_email,
        party.vendor_phone,
        party.vendor_contact,
        party.vendor_timezone,
        party.vendor_language,
        party.agent_name,
        party.agent_email,
        party.agent_phone,
        party.agency,
        party.profile,
        party.project,
    )


def _terms_cells(terms: Terms) -> tuple[Any, ...]:
    return (
        terms.coverage,
        terms.effective_date.isoformat() if terms.effective_date else None,
        terms.expiration_date.isoformat() if terms.expiration_date else None,
        json.dumps(terms.limits, sort_keys=True),
        _flag(terms.additional_insured),
        _flag(terms.subrogation_waived),
        _flag(terms.occurrence),
    )


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


@dataclass
class VendorBatch:
    """Some vendors with all their rows: `groups` (vkey → the rows' indexes in `rows`, those
    the file gave with the vendor's email first, then those folded into it, each in line
    order) and `rows` in line order (for the policies, where a later row wins)."""

    groups: dict[str, list[int]]
    rows: ValidRows


class Stage:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self._mark = "%s" if conn.dialect.paramstyle != "qmark" else "?"
        self._same = "IS NOT DISTINCT FROM" if self.pg else "IS"
        temp = "pg_temp." if self.pg else "temp."
        for table in ("roster_stage", "roster_owner", "roster_agent", "roster_vendor"):
            self._sql(f"DROP TABLE IF EXISTS {temp}{table}")
        columns = ", ".join(
            f"{c} INTEGER{' PRIMARY KEY' if c == 'line' else ''}" if c in _INTEGER else f"{c} TEXT"
            for c in (*COLUMNS, "folded")
        )
        self._temp("roster_stage", f"({columns})")
        marks = ", ".join(self._mark for _ in (*COLUMNS, "folded"))
        self._insert = (
            f"INSERT INTO roster_stage ({', '.join((*COLUMNS, 'folded'))}) VALUES ({marks})"
        )

    def _temp(self, name: str, body: str) -> None:
        """CREATE TEMP TABLE `name` `body` ("(columns)" or "AS SELECT ..."), dropped at
        commit on PostgreSQL (`close` drops them on SQLite)."""
        drop = " ON COMMIT DROP" if self.pg else ""
        if body.startswith("AS "):
            self._sql(f"CREATE TEMP TABLE {name}{drop} {body}")
        else:
            self._sql(f"CREATE TEMP TABLE {name} {body}{drop}")

    def _analyze(self, table: str) -> None:
        """PostgreSQL's planner knows nothing of a temporary table until it is analyzed
        (autovacuum never sees one)."""
        if self.pg:
            self._sql(f"ANALYZE {table}")

    def close(self) -> None:
        """Drop the staging tables (SQLite; PostgreSQL drops them at commit)."""
        if not self.pg:
            for table in ("roster_stage", "roster_owner", "roster_agent", "roster_vendor"):
                self._sql(f"DROP TABLE IF EXISTS temp.{table}")

    def _sql(self, sql: str, params: Any = None) -> Any:
        if params is None:
            return self.conn.exec_driver_sql(sql)
        if isinstance(params, list) and params and not isinstance(params[0], tuple):
            params = tuple(params)  # one statement's parameters (a list of tuples: many)
        return self.conn.exec_driver_sql(sql.replace("?", self._mark), params)

    def _marks(self, n: int) -> str:
        return ", ".join("?" for _ in range(n))

    # --- loading ---------------------------------------------------------------------------

    def add(self, rows: ValidRows) -> None:
        """Stage a chunk of valid rows."""
        if not rows.lines:
            return
        parties: dict[Party, tuple[Any, ...]] = {}
        terms: dict[Terms, tuple[Any, ...]] = {}
        payload = []
        for line, party, term, number, label, insurer, naic in zip(*rows.columns(), strict=True):
            p = parties.get(party)
            if p is None:
                p = parties[party] = _party_cells(party)
            t = terms.get(term)
            if t is None:
                t = terms[term] = _terms_cells(term)
            numkey = (number or "").strip().lower() or None
            payload.append(
                (line, *p[:4], numkey, *p[4:], *t, number, label, insurer, naic, 0),
            )
        if self.pg:
            copy_rows(self.conn, "roster_stage", (*COLUMNS, "folded"), payload)
        else:
            self.conn.exec_driver_sql(self._insert, payload)

    def loaded(self) -> None:
        """Every row is staged: index the keys."""
        self._sql("CREATE INDEX roster_stage_vkey ON roster_stage (vkey, line)")
        self._sql("CREATE INDEX roster_stage_nkey ON roster_stage (nkey)")
        self._analyze("roster_stage")

    def count(self) -> int:
        return int(self._sql("SELECT count(*) FROM roster_stage").scalar_one())

    def drop_lines(self, lines: Sequence[int]) -> None:
        for i in range(0, len(lines), PAGE):
            page = list(lines[i : i + PAGE])
            self._sql(f"DELETE FROM roster_stage WHERE line IN ({self._marks(len(page))})", page)

    # --- whole-file questions --------------------------------------------------------------

    def names_emailed_twice(self) -> dict[str, int]:
        """Names the file gives without an email and with more than one elsewhere: `nkey` →
        how many emails."""
        return {
            nkey: int(n)
            for nkey, n in self._sql(
                "SELECT s.nkey, count(DISTINCT e.vkey) FROM roster_stage s "
                "JOIN roster_stage e ON e.nkey = s.nkey AND e.vendor_email IS NOT NULL "
                "WHERE s.vendor_email IS NULL GROUP BY s.nkey HAVING count(DISTINCT e.vkey) > 1"
            )
        }

    def names_never_emailed(self) -> Iterator[list[tuple[str, str]]]:
        """(nkey, a name as given) of the names the file never gives with an email, a page
        at a time."""
        after = ""
        while True:
            page = self._sql(
                "SELECT s.nkey, min(s.vendor_name) FROM roster_stage s WHERE s.nkey > ? "
                "AND s.vendor_email IS NULL AND NOT EXISTS (SELECT 1 FROM roster_stage e "
                "WHERE e.nkey = s.nkey AND e.vendor_email IS NOT NULL) "
                f"GROUP BY s.nkey ORDER BY s.nkey LIMIT {PAGE}",
                (after,),
            ).all()
            if not page:
                return
            after = page[-1][0]
            yield [(nkey, name) for nkey, name in page]

    def unemailed_rows(self, nkeys: Sequence[str]) -> list[tuple[int, str, str]]:
        """(line, vendor name, nkey) of the rows without an email that give these names."""
        out: list[tuple[int, str, str]] = []
        for i in range(0, len(nkeys), PAGE):
            page = list(nkeys[i : i + PAGE])
            out.extend(
                self._sql(
                    "SELECT line, vendor_name, nkey FROM roster_stage WHERE vendor_email IS NULL"
                    f" AND nkey IN ({self._marks(len(page))})",
                    page,
                ).all()
            )
        return sorted(out)

    def merged(self) -> list[str]:
        """The rows that describe the same policy (vendor, coverage and policy number) or the
        same vendor with no policy: imported as one, reported with their line numbers."""
        out = []
        same = self._same
        groups = self._sql(
            "SELECT vkey, coverage, numkey, label, min(line) AS first FROM roster_stage "
            "GROUP BY vkey, coverage, numkey, label HAVING count(*) > 1 ORDER BY first"
        ).all()
        for vkey, coverage, number, label, _first in groups:
            rows = self._sql(
                f"SELECT line, vendor_name FROM roster_stage WHERE vkey = ? AND coverage {same} ?"
                f" AND numkey {same} ? AND label {same} ? ORDER BY line",
                (vkey, coverage, number, label),
            ).all()
            lines = [line for line, _ in rows]
            what = (
                f"{coverage.replace('_', ' ')}{' policy ' + number.upper() if number else ''}"
                if coverage
                else "no policy"
            )
            listed = ", ".join(str(n) for n in lines[:-1]) + f" and {lines[-1]}"
            out.append(f"lines {listed}: the same row ({rows[0][1]}, {what}), merged into one")
        return out

    def fold_vendors(self) -> None:
        """A vendor's rows without its email join its rows with it: the name of each emailed
        vendor is that of its first row; a name that just one emailed vendor has takes in the
        rows that give the name without an email."""
        self._temp(
            "roster_owner",
            "AS SELECT s.nkey AS nkey, min(s.vkey) AS owner "
            "FROM roster_stage s JOIN (SELECT min(line) AS line FROM roster_stage "
            "WHERE vendor_email IS NOT NULL GROUP BY vkey) f ON f.line = s.line "
            "GROUP BY s.nkey HAVING count(*) = 1",
        )
        self._sql("CREATE UNIQUE INDEX roster_owner_nkey ON roster_owner (nkey)")
        self._analyze("roster_owner")
        self._sql(
            "UPDATE roster_stage SET folded = 1, vkey = (SELECT owner FROM roster_owner o "
            "WHERE o.nkey = roster_stage.nkey) WHERE vendor_email IS NULL "
            "AND nkey IN (SELECT nkey FROM roster_owner)"
        )

    # --- agents ----------------------------------------------------------------------------

    def agent_keys(self) -> None:
        """`roster_agent`: each agent key the file gives, with its first row."""
        self._temp(
            "roster_agent", "(akey TEXT PRIMARY KEY, line INTEGER, agent_id INTEGER, owner TEXT)"
        )
        self._sql(
            "INSERT INTO roster_agent (akey, line) SELECT akey, min(line) FROM roster_stage "
            "WHERE akey IS NOT NULL GROUP BY akey"
        )
        self._sql("CREATE INDEX roster_agent_line ON roster_agent (line)")
        self._analyze("roster_agent")

    def agent_pages(self, *, new_only: bool = False) -> Iterator[list[tuple[Any, ...]]]:
        """(akey, name, email, phone, agency) of each agent key with its first row's values,
        in the order the file first gives them, a page at a time (the new ones only: not
        on file and not folded into another)."""
        after = 0
        only = " AND a.agent_id IS NULL AND a.owner IS NULL" if new_only else ""
        while True:
            page = self._sql(
                "SELECT a.line, a.akey, s.agent_name, s.agent_email, s.agent_phone, s.agency "
                "FROM roster_agent a JOIN roster_stage s ON s.line = a.line "
                f"WHERE a.line > ?{only} ORDER BY a.line LIMIT {PAGE}",
                (after,),
            ).all()
            if not page:
                return
            after = page[-1][0]
            yield [tuple(row[1:]) for row in page]

    def set_agents(self, ids: Sequence[tuple[int, str]]) -> None:
        if ids:
            self._sql("UPDATE roster_agent SET agent_id = ? WHERE akey = ?", list(ids))

    def fold_agents(self) -> None:
        """An agent given without an email (by a name not on file) is the new agent of that
        name given with one, when just one is (the name of each: its first row's)."""
        self._sql(
            "UPDATE roster_agent SET owner = (SELECT min(e.akey) FROM roster_agent e "
            "JOIN roster_stage s ON s.line = e.line WHERE e.agent_id IS NULL "
            "AND s.agent_email IS NOT NULL AND s.ankey = roster_agent.akey "
            "HAVING count(*) = 1) WHERE agent_id IS NULL AND substr(akey, 1, 2) = 'n:'"
        )

    def agents_folded(self) -> None:
        self._sql(
            "UPDATE roster_agent SET agent_id = (SELECT o.agent_id FROM roster_agent o "
            "WHERE o.akey = roster_agent.owner) WHERE owner IS NOT NULL"
        )

    def agent_ids(self, akeys: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(0, len(akeys), PAGE):
            page = list(akeys[i : i + PAGE])
            out.update(
                self._sql(
                    "SELECT akey, agent_id FROM roster_agent WHERE agent_id IS NOT NULL AND "
                    f"akey IN ({self._marks(len(page))})",
                    page,
                ).all()
            )
        return out

    # --- vendors ---------------------------------------------------------------------------

    def vendor_batches(self, size: int) -> Iterator[VendorBatch]:
        """The vendors (final `vkey`s) in the order the file first names them (its first
        row with the email), `size` vendors at a time, each with all its rows."""
        self._temp(
            "roster_vendor",
            "AS SELECT vkey, min(line) AS first FROM roster_stage WHERE folded = 0 GROUP BY vkey",
        )
        self._sql("CREATE INDEX roster_vendor_first ON roster_vendor (first)")
        self._analyze("roster_vendor")
        after = 0
        names = ", ".join(("folded", *COLUMNS))
        while True:
            page = self._sql(
                f"SELECT first, vkey FROM roster_vendor WHERE first > ? ORDER BY first "
                f"LIMIT {int(size)}",
                (after,),
            ).all()
            if not page:
                return
            after = page[-1][0]
            keys = [vkey for _, vkey in page]
            rows = self._sql(
                f"SELECT {names} FROM roster_stage WHERE vkey IN ({self._marks(len(keys))}) "
                "ORDER BY line",
                keys,
            ).all()
            yield _batch(keys, rows)


def _batch(keys: list[str], rows: Sequence[Sequence[Any]]) -> VendorBatch:
    """The staged rows (folded, then COLUMNS, in line order) as a VendorBatch."""
    parties: dict[tuple[Any, ...], Party] = {}
    terms: dict[tuple[Any, ...], Terms] = {}
    out = ValidRows()
    emailed: dict[str, list[int]] = {k: [] for k in keys}
    folded: dict[str, list[int]] = {}
    p0 = len(_KEYS) + 1
    t0 = p0 + len(_PARTY)
    e0 = t0 + len(_TERMS)
    for i, row in enumerate(rows):
        cells = tuple(row[p0:t0])
        party = parties.get(cells)
        if party is None:
            party = parties[cells] = Party(*cells)
        tcells = tuple(row[t0:e0])
        term = terms.get(tcells)
        if term is None:
            coverage, effective, expiration, limits, ai, waived, occurrence = tcells
            term = terms[tcells] = Terms(
                coverage,
                _day(effective),
                _day(expiration),
                json.loads(limits),
                _bool(ai),
                _bool(waived),
                _bool(occurrence),
            )
        number, label, insurer, naic = row[e0:]
        out.lines.append(row[1])
        out.parties.append(party)
        out.terms.append(term)
        out.policy_numbers.append(number)
        out.labels.append(label)
        out.insurers.append(insurer)
        out.naics.append(naic)
        (folded.setdefault(row[2], []) if row[0] else emailed[row[2]]).append(i)
    groups = {k: [*emailed[k], *folded.get(k, [])] for k in keys}
    return VendorBatch(groups, out)


def ambiguous_problem(line: int, name: str, vendors: int) -> RowProblem:
    return RowProblem(
        line,
        "vendor_email",
        f"is required here: {vendors} vendors are named {name!r} (in this file or"
        " on file), and without the email the row cannot say which one it is",
    )
