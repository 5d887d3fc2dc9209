"""Parse one distinct combination of roster cells: a party, a policy's terms, its extras.

Each parser takes the raw cells of its columns (None where a column is absent) and returns
the parsed object with its problems as (column, message) pairs in column order. The value
parsers cache what repeats across combinations (emails, phones, dates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from comms.roster.rows import Party, Terms, text
from comms.roster.values import (
    parse_bool,
    parse_coverage,
    parse_date,
    parse_money,
    parse_optional_email,
    parse_optional_phone,
)

Found = tuple[tuple[str, str], ...]

PARTY_COLUMNS = (
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
    "project",
)
TERMS_COLUMNS = ("coverage", "effective_date", "expiration_date")  # then the limits
FLAG_COLUMNS = ("additional_insured", "waiver_of_subrogation", "occurrence")  # after them
EXTRA_COLUMNS = ("label", "insurer", "naic")
NO_PROBLEMS: Found = ()
_PARTY_ORDER = {c: i for i, c in enumerate(PARTY_COLUMNS)}


def _zone(raw: Any) -> str | None:
    zone = text(raw)
    if zone is None:
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r} (use a name like America/Chicago)") from None
    return zone


def _blank(raw: Any) -> bool:
    return raw is None or raw == ""


class ComboParser:
    """Parses cell combinations for one sheet (its region, profiles and limit columns)."""

    def __init__(
        self,
        *,
        region: str,
        profiles: set[str],
        default_profile: str | None,
        limit_columns: tuple[str, ...],
        projects: frozenset[str] = frozenset(),
    ) -> None:
        self.region = region
        self.profiles = profiles
        self.projects = projects
        self.default_profile = default_profile
        self.limit_columns = limit_columns

    @staticmethod
    def _value(
        column: str, raw: Any, parser: Callable[[Any], Any], found: list[tuple[str, str]]
    ) -> Any:
        if raw is None or raw == "":
            return None
        try:
            return parser(raw)
        except ValueError as exc:
            found.append((column, str(exc)))
            return None

    def _phone(self, raw: Any) -> str | None:
        return parse_optional_phone(raw, self.region)

    def party(self, cells: tuple[Any, ...]) -> tuple[Party, Found]:
        """`cells` in PARTY_COLUMNS order."""
        (
            name,
            email,
            phone,
            contact,
            zone,
            language,
            agent_name,
            agent_email,
            agent_phone,
            agency,
            profile,
            project,
        ) = cells
        found: list[tuple[str, str]] = []
        value = self._value
        name = text(name)
        if not name:
            found.append(("vendor_name", "is required"))
        email = value("vendor_email", email, parse_optional_email, found)
        phone = value("vendor_phone", phone, self._phone, found)
        zone = value("vendor_timezone", zone, _zone, found)
        agent_email = value("agent_email", agent_email, parse_optional_email, found)
        agent_phone = value("agent_phone", agent_phone, self._phone, found)
        profile = text(profile) or self.default_profile
        if profile is not None and profile not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none loaded"
            found.append(("profile", f"unknown profile {profile!r} (known: {known})"))
        project = text(project)
        if project is not None and project not in self.projects:
            known = ", ".join(sorted(self.projects)) or "none loaded"
            found.append(("project", f"unknown project {project!r} (known: {known})"))
        party = Party(
            name or "",
            email,
            phone,
            text(contact),
            zone,
            text(language),
            text(agent_name),
            agent_email,
            agent_phone,
            text(agency),
            profile,
            project,
        )
        if not found:
            return party, NO_PROBLEMS
        return party, tuple(sorted(found, key=lambda cm: _PARTY_ORDER[cm[0]]))

    def terms(self, cells: tuple[Any, ...]) -> tuple[Terms, Found, bool]:
        """`cells` in TERMS_COLUMNS, limit columns, FLAG_COLUMNS order. Also says whether a
        policy number on the row would need a coverage that is not there."""
        found: list[tuple[str, str]] = []
        value = self._value
        coverage = value("coverage", cells[0], parse_coverage, found)
        effective = value("effective_date", cells[1], parse_date, found)
        expiration = value("expiration_date", cells[2], parse_date, found)
        limits: dict[str, int] = {}
        for column, raw in zip(self.limit_columns, cells[3:-3], strict=True):
            amount = value(column, raw, parse_money, found)
            if amount is not None:
                limits[column] = amount
        ai = waived = occurrence = None
        needs_coverage = False
        if coverage is not None:
            ai = bool(value("additional_insured", cells[-3], parse_bool, found))
            waived = bool(value("waiver_of_subrogation", cells[-2], parse_bool, found))
            occurrence = value("occurrence", cells[-1], parse_bool, found)
            if expiration is None and not any(c == "expiration_date" for c, _ in found):
                found.append(("expiration_date", "is required with a coverage"))
            if effective and expiration and effective > expiration:
                found.append(("expiration_date", "is before the effective date"))
        elif not any(c == "coverage" for c, _ in found):
            if _blank(cells[2]):
                needs_coverage = True
            else:
                found.append(("coverage", "is required when a policy is given"))
        terms = Terms(
            coverage, effective, expiration, dict(sorted(limits.items())), ai, waived, occurrence
        )
        return terms, tuple(found), needs_coverage

    def extra(self, cells: tuple[Any, ...]) -> tuple[str | None, ...]:
        """`cells` in EXTRA_COLUMNS order: free text, never a problem."""
        return tuple(text(raw) for raw in cells)
