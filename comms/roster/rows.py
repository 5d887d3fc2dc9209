"""What validation makes of roster rows: parties, policy terms, valid rows and problems.

A roster has one row per policy, so it repeats itself: a vendor's name, email, phone, agent
and profile come again on each of its policies, and a policy's terms (coverage, dates, limits,
flags) recur from vendor to vendor. Rows therefore share `Party` and `Terms` objects, one per
distinct combination, compared by identity; `ValidRows` holds the rows column by column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class RowProblem:
    line: int
    column: str
    message: str

    def format(self, path: str) -> str:
        return f"{path}:{self.line}: {self.column}: {self.message}"


@dataclass(slots=True, eq=False)
class Party:
    """A row's vendor, its agent and its profile."""

    vendor_name: str
    vendor_email: str | None
    vendor_phone: str | None
    vendor_contact: str | None
    vendor_timezone: str | None
    vendor_language: str | None
    agent_name: str | None
    agent_email: str | None
    agent_phone: str | None
    agency: str | None
    profile: str | None
    project: str | None = None


@dataclass(slots=True, eq=False)
class Terms:
    """A row's coverage, dates, limits and flags (coverage None: a vendor with no policy)."""

    coverage: str | None
    effective_date: date | None
    expiration_date: date | None
    limits: dict[str, int]
    additional_insured: bool | None
    subrogation_waived: bool | None
    occurrence: bool | None


@dataclass
class ValidRows:
    """The valid rows of a sheet, column by column: row i is (lines[i], parties[i], ...)."""

    lines: list[int] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)
    terms: list[Terms] = field(default_factory=list)
    policy_numbers: list[str | None] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)
    insurers: list[str | None] = field(default_factory=list)
    naics: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    def columns(self) -> tuple[list[Any], ...]:
        return (
            self.lines,
            self.parties,
            self.terms,
            self.policy_numbers,
            self.labels,
            self.insurers,
            self.naics,
        )


def text(raw: Any) -> str | None:
    """A cell as text, runs of whitespace made one space; blank is None."""
    if raw.__class__ is str:
        return " ".join(raw.split()) or None
    if raw is None:
        return None
    if isinstance(raw, float) and raw == int(raw):
        raw = int(raw)
    return " ".join(str(raw).split()) or None
