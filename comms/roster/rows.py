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


def parse_row(
    line: int, raw: dict[str, Any], *, region: str, profiles: set[str], default_profile: str | None
) -> tuple[RosterRow | None, list[RowProblem]]:
    problems: list[RowProblem] = []

    def take(column: str, parser: Callable[[Any], Any]) -> Any:
        if column not in raw:
            return None
        try:
            return parser(raw[column])
        except ValueError as exc:
            problems.append(RowProblem(line, column, str(exc)))
            return None

    name = _text(raw.get("vendor_name"))
    if not name:
        problems.append(RowProblem(line, "vendor_name", "is required"))
    row = RosterRow(line=line, vendor_name=name or "")
    row.vendor_email = take("vendor_email", parse_optional_email)
    row.vendor_phone = take("vendor_phone", lambda v: parse_optional_phone(v, region))
    row.vendor_contact = _text(raw.get("vendor_contact"))
    row.vendor_timezone = take("vendor_timezone", _zone)
    row.vendor_language = _text(raw.get("vendor_language"))
    row.agent_name = _text(raw.get("agent_name"))
    row.agent_email = take("agent_email", parse_optional_email)
    row.agent_phone = take("agent_phone", lambda v: parse_optional_phone(v, region))
    row.agency = _text(raw.get("agency"))
    profile = _text(raw.get("profile")) or default_profile
    if profile is not None and profile not in profiles:
        known = ", ".join(sorted(profiles)) or "none loaded"
        problems.append(
            RowProblem(line, "profile", f"unknown profile {profile!r} (known: {known})")
        )
    row.profile = profile
    row.coverage = take("coverage", parse_coverage)
    row.label = _text(raw.get("label"))
    row.insurer = _text(raw.get("insurer"))
    row.naic = _text(raw.get("naic"))
    row.policy_number = _text(raw.get("policy_number"))
    row.effective_date = take("effective_date", parse_date)
    row.expiration_date = take("expiration_date", parse_date)
    for key in LIMIT_KEYS:
        amount = take(key, parse_money)
        if amount is not None:
            row.limits[key] = amount
    if row.coverage is not None:
        row.additional_insured = take("additional_insured", parse_bool)
        row.waiver_of_subrogation = take("waiver_of_subrogation", parse_bool)
        if "occurrence" in raw and _text(raw.get("occurrence")):
            row.occurrence = take("occurrence", parse_bool)
        if row.expiration_date is None and not any(p.column == "expiration_date" for p in problems):
            problems.append(RowProblem(line, "expiration_date", "is required with a coverage"))
        if row.effective_date and row.expiration_date and row.effective_date > row.expiration_date:
            problems.append(RowProblem(line, "expiration_date", "is before the effective date"))
    elif not any(p.column == "coverage" for p in problems) and any(
        raw.get(c) not in (None, "") for c in ("policy_number", "expiration_date")
    ):
        problems.append(RowProblem(line, "coverage", "is required when a policy is given"))
    return (None if problems else row), problems
