"""Validate one raw roster row into a typed row, collecting every problem with its column."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from comms.coverage import LIMIT_KEYS
from comms.roster.values import (
    parse_bool,
    parse_coverage,
    parse_date,
    parse_money,
    parse_optional_email,
    parse_optional_phone,
)


@dataclass
class RowProblem:
    line: int
    column: str
    message: str

    def format(self, path: str) -> str:
        return f"{path}:{self.line}: {self.column}: {self.message}"


@dataclass(slots=True)
class RosterRow:
    line: int
    vendor_name: str
    vendor_email: str | None = None
    vendor_phone: str | None = None
    vendor_contact: str | None = None
    vendor_timezone: str | None = None
    vendor_language: str | None = None
    agent_name: str | None = None
    agent_email: str | None = None
    agent_phone: str | None = None
    agency: str | None = None
    profile: str | None = None
    coverage: str | None = None
    label: str | None = None
    insurer: str | None = None
    naic: str | None = None
    policy_number: str | None = None
    effective_date: date | None = None
    expiration_date: date | None = None
    limits: dict[str, int] = field(default_factory=dict)
    additional_insured: bool | None = None
    waiver_of_subrogation: bool | None = None
    occurrence: bool | None = None


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, float) and raw == int(raw):
        raw = int(raw)
    text = " ".join(str(raw).split())
    return text or None


def _zone(raw: Any) -> str | None:
    text = _text(raw)
    if text is None:
        return None
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {text!r} (use a name like America/Chicago)") from None
    return text


class RowParser:
    """Validates rows; parses each distinct raw value once (rosters repeat vendors per policy)."""

    def __init__(
        self, *, region: str, profiles: set[str], default_profile: str | None, index: dict[str, int]
    ) -> None:
        self.index = index
        self.region = region
        self.profiles = profiles
        self.default_profile = default_profile
        self.limit_columns = [k for k in LIMIT_KEYS if k in index]
        self._cache: dict[tuple[str, Any], tuple[Any, str | None]] = {}
        self._terms_columns = (
            "coverage",
            "effective_date",
            "expiration_date",
            *self.limit_columns,
            "additional_insured",
            "waiver_of_subrogation",
            "occurrence",
        )
        self._slicers: dict[tuple[str, ...], Callable[[list[Any]], tuple[Any, ...]]] = {}
        self._terms_cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], list[tuple[str, str]]]] = {}
        self._party_cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], list[tuple[str, str]]]] = {}
        self._phone: Callable[[Any], Any] = lambda v: parse_optional_phone(v, region)

    def _take(
        self,
        raw: list[Any],
        column: str,
        parser: Callable[[Any], Any],
        problems: list[RowProblem],
        line: int,
    ) -> Any:
        i = self.index.get(column)
        if i is None or i >= len(raw):
            return None
        value = raw[i]
        if value is None or value == "":
            return None
        key = (column, value)
        hit = self._cache.get(key)
        if hit is None:
            try:
                hit = (parser(value), None)
            except ValueError as exc:
                hit = (None, str(exc))
            self._cache[key] = hit
        result, error = hit
        if error is not None:
            problems.append(RowProblem(line, column, error))
        return result

    def _get(self, raw: list[Any], column: str) -> Any:
        i = self.index.get(column)
        return raw[i] if i is not None and i < len(raw) else None

    _PARTY = (
        "vendor_name",
        "vendor_email",
        "vendor_phone",
        "vendor_contact",
        "vendor_timezone",
        "vendor_language",
        "agent_name",
        "agent_email",
        "agent_phone",
        "agency",
        "profile",
    )

    def _party(self, raw: list[Any]) -> tuple[tuple[Any, ...], list[tuple[str, str]]]:
        """The vendor and agent columns, parsed once per distinct combination."""
        source = self._slice(raw, self._PARTY)
        hit = self._party_cache.get(source)
        if hit is not None:
            return hit
        found: list[RowProblem] = []
        take = self._take
        name = _text(source[0])
        if not name:
            found.append(RowProblem(0, "vendor_name", "is required"))
        profile = _text(source[10]) or self.default_profile
        if profile is not None and profile not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none loaded"
            found.append(RowProblem(0, "profile", f"unknown profile {profile!r} (known: {known})"))
        values = (
            name or "",
            take(raw, "vendor_email", parse_optional_email, found, 0),
            take(raw, "vendor_phone", self._phone, found, 0),
            _text(source[3]),
            take(raw, "vendor_timezone", _zone, found, 0),
            _text(source[5]),
            _text(source[6]),
            take(raw, "agent_email", parse_optional_email, found, 0),
            take(raw, "agent_phone", self._phone, found, 0),
            _text(source[9]),
            profile,
        )
        order = {c: i for i, c in enumerate(self._PARTY)}
        problems = sorted(((p.column, p.message) for p in found), key=lambda cm: order[cm[0]])
        result = (values, problems)
        self._party_cache[source] = result
        return result

    def _slicer(self, columns: tuple[str, ...]) -> Callable[[list[Any]], tuple[Any, ...]]:
        """A fast function from a raw row to the values of `columns` (None where absent)."""
        indices = [self.index.get(c) for c in columns]
        present = [i for i in indices if i is not None]
        width = max(present, default=-1) + 1
        if not present:
            return lambda raw: (None,) * len(columns)
        pick = operator.itemgetter(*present, present[0])  # always a tuple
        slots = []
        cursor = 0
        for i in indices:
            slots.append(None if i is None else cursor)
            cursor += i is not None

        def slice_(raw: list[Any]) -> tuple[Any, ...]:
            if len(raw) < width:
                raw = [*raw, *([None] * (width - len(raw)))]
            got = pick(raw)
            return tuple(None if s is None else got[s] for s in slots)

        if all(slot is not None for slot in slots):
            n = len(slots)

            def slice_all(raw: list[Any]) -> tuple[Any, ...]:
                if len(raw) < width:
                    raw = [*raw, *([None] * (width - len(raw)))]
                return pick(raw)[:n]

            return slice_all
        return slice_

    def _slice(self, raw: list[Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
        slicer = self._slicers.get(columns)
        if slicer is None:
            slicer = self._slicers[columns] = self._slicer(columns)
        return slicer(raw)

    def _terms(self, raw: list[Any]) -> tuple[tuple[Any, ...], list[tuple[str, str]]]:
        """The policy's coverage, dates, limits and flags, parsed once per distinct combination
        (the policy number and names are per row)."""
        source = self._slice(raw, self._terms_columns)
        hit = self._terms_cache.get(source)
        if hit is not None:
            return hit
        found: list[RowProblem] = []
        take = self._take
        coverage = take(raw, "coverage", parse_coverage, found, 0)
        effective = take(raw, "effective_date", parse_date, found, 0)
        expiration = take(raw, "expiration_date", parse_date, found, 0)
        limits: dict[str, int] = {}
        for key in self.limit_columns:
            amount = take(raw, key, parse_money, found, 0)
            if amount is not None:
                limits[key] = amount
        ai = waived = occurrence = None
        if coverage is not None:
            ai = bool(take(raw, "additional_insured", parse_bool, found, 0))
            waived = bool(take(raw, "waiver_of_subrogation", parse_bool, found, 0))
            occurrence = take(raw, "occurrence", parse_bool, found, 0)
            if expiration is None and not any(p.column == "expiration_date" for p in found):
                found.append(RowProblem(0, "expiration_date", "is required with a coverage"))
            if effective and expiration and effective > expiration:
                found.append(RowProblem(0, "expiration_date", "is before the effective date"))
        elif not any(p.column == "coverage" for p in found) and any(
            self._get(raw, c) not in (None, "") for c in ("policy_number", "expiration_date")
        ):
            found.append(RowProblem(0, "coverage", "is required when a policy is given"))
        result = (
            (coverage, effective, expiration, limits, ai, waived, occurrence),
            [(p.column, p.message) for p in found],
        )
        if self._get(raw, "policy_number") in (None, "") or coverage is not None:
            self._terms_cache[source] = result
        return result

    def parse(self, line: int, raw: list[Any]) -> tuple[RosterRow | None, list[RowProblem]]:
        get = self._get
        party, party_problems = self._party(raw)
        problems = [RowProblem(line, column, message) for column, message in party_problems]
        row = RosterRow(
            line,
            party[0],
            party[1],
            party[2],
            party[3],
            party[4],
            party[5],
            party[6],
            party[7],
            party[8],
            party[9],
            party[10],
        )
        row.label = _text(get(raw, "label"))
        row.insurer = _text(get(raw, "insurer"))
        row.naic = _text(get(raw, "naic"))
        row.policy_number = _text(get(raw, "policy_number"))
        terms, term_problems = self._terms(raw)
        (
            row.coverage,
            row.effective_date,
            row.expiration_date,
            row.limits,
            row.additional_insured,
            row.waiver_of_subrogation,
            row.occurrence,
        ) = terms
        problems.extend(RowProblem(line, column, message) for column, message in term_problems)
        return (None if problems else row), problems
