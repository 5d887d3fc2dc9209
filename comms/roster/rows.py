"""Validate one raw roster row into a typed row, collecting every problem with its column."""

from __future__ import annotations

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


@dataclass
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

    def parse(self, line: int, raw: list[Any]) -> tuple[RosterRow | None, list[RowProblem]]:
        problems: list[RowProblem] = []
        take = self._take
        get = self._get
        name = _text(get(raw, "vendor_name"))
        if not name:
            problems.append(RowProblem(line, "vendor_name", "is required"))
        row = RosterRow(line=line, vendor_name=name or "")
        row.vendor_email = take(raw, "vendor_email", parse_optional_email, problems, line)
        row.vendor_phone = take(raw, "vendor_phone", self._phone, problems, line)
        row.vendor_contact = _text(get(raw, "vendor_contact"))
        row.vendor_timezone = take(raw, "vendor_timezone", _zone, problems, line)
        row.vendor_language = _text(get(raw, "vendor_language"))
        row.agent_name = _text(get(raw, "agent_name"))
        row.agent_email = take(raw, "agent_email", parse_optional_email, problems, line)
        row.agent_phone = take(raw, "agent_phone", self._phone, problems, line)
        row.agency = _text(get(raw, "agency"))
        profile = _text(get(raw, "profile")) or self.default_profile
        if profile is not None and profile not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none loaded"
            problems.append(
                RowProblem(line, "profile", f"unknown profile {profile!r} (known: {known})")
            )
        row.profile = profile
        row.coverage = take(raw, "coverage", parse_coverage, problems, line)
        row.label = _text(get(raw, "label"))
        row.insurer = _text(get(raw, "insurer"))
        row.naic = _text(get(raw, "naic"))
        row.policy_number = _text(get(raw, "policy_number"))
        row.effective_date = take(raw, "effective_date", parse_date, problems, line)
        row.expiration_date = take(raw, "expiration_date", parse_date, problems, line)
        for key in self.limit_columns:
            amount = take(raw, key, parse_money, problems, line)
            if amount is not None:
                row.limits[key] = amount
        if row.coverage is not None:
            row.additional_insured = bool(
                take(raw, "additional_insured", parse_bool, problems, line)
            )
            row.waiver_of_subrogation = bool(
                take(raw, "waiver_of_subrogation", parse_bool, problems, line)
            )
            row.occurrence = take(raw, "occurrence", parse_bool, problems, line)
            if row.expiration_date is None and not any(
                p.column == "expiration_date" for p in problems
            ):
                problems.append(RowProblem(line, "expiration_date", "is required with a coverage"))
            if (
                row.effective_date
                and row.expiration_date
                and row.effective_date > row.expiration_date
            ):
                problems.append(RowProblem(line, "expiration_date", "is before the effective date"))
        elif not any(p.column == "coverage" for p in problems) and any(
            get(raw, c) not in (None, "") for c in ("policy_number", "expiration_date")
        ):
            problems.append(RowProblem(line, "coverage", "is required when a policy is given"))
        return (None if problems else row), problems
