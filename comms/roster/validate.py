"""Validate a sheet's rows a chunk at a time, column by column.

For each chunk, the rows are turned into cache keys (the raw cells of the party columns, of
the policy-terms columns, of the label/insurer/NAIC columns) by `map(itemgetter)`; only keys
never seen before go through `ComboParser`, and every row then gets its shared `Party`,
`Terms` and extras by another `map`. The per-row loops run in C; Python code runs once per
distinct combination, once per row only for the policy number, and for the rows that have
problems.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from itertools import compress
from typing import Any

from comms.coverage import LIMIT_KEYS
from comms.roster.combos import (
    EXTRA_COLUMNS,
    FLAG_COLUMNS,
    PARTY_COLUMNS,
    TERMS_COLUMNS,
    ComboParser,
    Found,
)
from comms.roster.rows import Party, RowProblem, Terms, ValidRows, text

Progress = Callable[[int, int], None]
Key = Any  # a cell, or a tuple of cells
CHUNK = 5000  # rows read, validated and staged at a time
CACHE_LIMIT = 20_000  # parsed combinations kept between chunks


class _Cells:
    """Some columns of a row. `key` takes the present ones from a row: a cache key (one
    cell, a tuple of cells, or None when no column is present); `spread` gives a key back
    as the cells of all the columns, None where a column is absent."""

    def __init__(self, columns: Sequence[str], index: dict[str, int]) -> None:
        present = [c for c in columns if c in index]
        self.key: Callable[[Sequence[Any]], Any] | None = (
            operator.itemgetter(*[index[c] for c in present]) if present else None
        )
        self._single = len(present) == 1
        # Each column's position in the key, or one past its end (where spread puts a None).
        slots = [present.index(c) if c in index else len(present) for c in columns]
        self._spread = operator.itemgetter(*slots) if len(slots) > 1 else None
        self._width = len(columns)

    def keys(self, rows: list[list[Any]]) -> list[Any]:
        if self.key is None:
            return [None] * len(rows)
        return list(map(self.key, rows))

    def spread(self, key: Any) -> tuple[Any, ...]:
        if self.key is None:
            return (None,) * self._width
        cells = (key, None) if self._single else (*key, None)
        if self._spread is None:
            return (cells[0],)
        return self._spread(cells)


def _rows_with(keys: list[Key], marked: AbstractSet[Key]) -> list[int]:
    """Indices of the keys in `marked` (no scan when none of them is, the usual case)."""
    if not marked or marked.isdisjoint(keys):
        return []
    return [i for i, key in enumerate(keys) if key in marked]


class RowValidator:
    def __init__(
        self,
        *,
        region: str,
        profiles: set[str],
        default_profile: str | None,
        index: dict[str, int],
        projects: frozenset[str] = frozenset(),
    ) -> None:
        self.width = max(index.values(), default=-1) + 1
        limit_columns = tuple(k for k in LIMIT_KEYS if k in index)
        self.combos = ComboParser(
            region=region,
            profiles=profiles,
            default_profile=default_profile,
            limit_columns=limit_columns,
            projects=projects,
        )
        self._party_cells = _Cells(PARTY_COLUMNS, index)
        self._terms_cells = _Cells((*TERMS_COLUMNS, *limit_columns, *FLAG_COLUMNS), index)
        self._extra_cells = _Cells(EXTRA_COLUMNS, index)
        self._number_at = index.get("policy_number")
        self._parties: dict[Key, Party] = {}
        self._party_problems: dict[Key, Found] = {}
        self._terms: dict[Key, Terms] = {}
        self._terms_problems: dict[Key, Found] = {}
        self._needs_coverage: set[Key] = set()  # terms with no coverage: a policy number needs one
        self._extras: dict[Key, tuple[str | None, ...]] = {}

    def validate(
        self, lines: list[int], rows: list[list[Any]], progress: Progress | None = None
    ) -> tuple[ValidRows, list[RowProblem]]:
        """The valid rows, and every problem of the others (by line, in column order)."""
        valid = ValidRows()
        problems: list[RowProblem] = []
        total = len(rows)
        for start in range(0, total, CHUNK):
            end = min(start + CHUNK, total)
            self._chunk(lines[start:end], rows[start:end], valid, problems)
            if progress is not None:
                progress(end, total)
        return valid, problems

    def trim(self, limit: int = CACHE_LIMIT) -> None:
        """Forget the parsed combinations once there are more than `limit` of a kind (a
        roster of a million vendors has a million parties): memory stays bounded."""
        if len(self._parties) > limit:
            self._parties.clear()
            self._party_problems.clear()
        if len(self._terms) > limit:
            self._terms.clear()
            self._terms_problems.clear()
            self._needs_coverage.clear()
        if len(self._extras) > limit:
            self._extras.clear()

    @staticmethod
    def _lookup(keys: list[Key], known: dict[Key, Any], parse: Callable[[Key], None]) -> list[Any]:
        """known[key] for each key, parsing the keys not known yet (each once)."""
        found = list(map(known.get, keys))
        if None in found:
            for key in set(compress(keys, map(operator.not_, found))):
                parse(key)
            found = list(map(known.__getitem__, keys))
        return found

    def _parse_party(self, key: Key) -> None:
        party, found = self.combos.party(self._party_cells.spread(key))
        self._parties[key] = party
        if found:
            self._party_problems[key] = found

    def _parse_terms(self, key: Key) -> None:
        terms, found, needs_coverage = self.combos.terms(self._terms_cells.spread(key))
        self._terms[key] = terms
        if found:
            self._terms_problems[key] = found
        if needs_coverage:
            self._needs_coverage.add(key)

    def _parse_extra(self, key: Key) -> None:
        self._extras[key] = self.combos.extra(self._extra_cells.spread(key))

    def _chunk(
        self,
        lines: list[int],
        rows: list[list[Any]],
        valid: ValidRows,
        problems: list[RowProblem],
    ) -> None:
        width = self.width
        if min(map(len, rows)) < width:  # short rows: the missing cells are blank
            rows = [r if len(r) >= width else [*r, *([None] * (width - len(r)))] for r in rows]
        party_keys = self._party_cells.keys(rows)
        terms_keys = self._terms_cells.keys(rows)
        extra_keys = self._extra_cells.keys(rows)
        parties = self._lookup(party_keys, self._parties, self._parse_party)
        terms = self._lookup(terms_keys, self._terms, self._parse_terms)
        extras = self._lookup(extra_keys, self._extras, self._parse_extra)
        if self._number_at is None:
            numbers: list[str | None] = [None] * len(rows)
        else:
            numbers = [
                (" ".join(raw.split()) or None) if raw.__class__ is str else text(raw)
                for raw in map(operator.itemgetter(self._number_at), rows)
            ]
        bad = set(_rows_with(party_keys, self._party_problems.keys()))
        bad.update(_rows_with(terms_keys, self._terms_problems.keys()))
        orphans = {i for i in _rows_with(terms_keys, self._needs_coverage) if numbers[i]}
        bad.update(orphans)
        for i in sorted(bad):
            found: list[tuple[str, str]] = [
                *self._party_problems.get(party_keys[i], ()),
                *self._terms_problems.get(terms_keys[i], ()),
            ]
            if i in orphans:
                found.append(("coverage", "is required when a policy is given"))
            problems.extend(RowProblem(lines[i], column, message) for column, message in found)
        labels, insurers, naics = zip(*extras, strict=True)
        columns: tuple[Sequence[Any], ...] = (
            lines,
            parties,
            terms,
            numbers,
            labels,
            insurers,
            naics,
        )
        if bad:
            keep = [i not in bad for i in range(len(rows))]
            columns = tuple(list(compress(column, keep)) for column in columns)
        for target, values in zip(valid.columns(), columns, strict=True):
            target.extend(values)
