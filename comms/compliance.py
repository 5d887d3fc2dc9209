"""The compliance verdict: a pure function of certificates' policies, a profile and a date."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from comms.coverage import coverage_name, limit_name, money
from comms.profiles import CoverageRequirement, ProfileSpec


class Status(enum.StrEnum):
    COMPLIANT = "compliant"
    EXPIRING = "expiring"
    NON_COMPLIANT = "non_compliant"
    EXPIRED = "expired"
    MISSING = "missing"


STATUS_ORDER = (
    Status.COMPLIANT,
    Status.EXPIRING,
    Status.NON_COMPLIANT,
    Status.EXPIRED,
    Status.MISSING,
)


@dataclass(frozen=True)
class PolicyFacts:
    """What a verdict needs from one policy, whatever its origin (roster, extraction)."""

    coverage: str
    effective: date | None
    expiration: date | None
    limits: dict[str, int] = field(default_factory=dict)
    additional_insured: bool | None = None
    subrogation_waived: bool | None = None
    occurrence: bool | None = None
    label: str | None = None
    policy_number: str | None = None
    received_at: datetime | None = None
    endorsements: tuple[str, ...] = ()


@dataclass(frozen=True)
class Deficiency:
    code: str
    coverage: str
    message: str
    required: Any = None
    actual: Any = None
    limit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "coverage": self.coverage,
            "limit": self.limit,
            "required": self.required,
            "actual": self.actual,
            "message": self.message,
        }


@dataclass(frozen=True)
class Verdict:
    status: Status
    as_of: date
    deficiencies: tuple[Deficiency, ...]
    next_expiration: date | None
    expired_since: date | None = None
    covered: tuple[str, ...] = ()

    @property
    def compliant(self) -> bool:
        return self.status in (Status.COMPLIANT, Status.EXPIRING)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "as_of": self.as_of.isoformat(),
            "next_expiration": self.next_expiration.isoformat() if self.next_expiration else None,
            "expired_since": self.expired_since.isoformat() if self.expired_since else None,
            "deficiencies": [d.as_dict() for d in self.deficiencies],
        }


def _sort_key(p: PolicyFacts) -> tuple[Any, ...]:
    """Newest last; ties broken on content so the verdict never depends on input order."""
    received = p.received_at.isoformat() if p.received_at else ""
    return (
        p.effective or date.min,
        p.expiration or date.min,
        received,
        p.policy_number or "",
        tuple(sorted(p.limits.items())),
        repr((p.additional_insured, p.subrogation_waived, p.occurrence, p.label, p.endorsements)),
    )


def _matches(p: PolicyFacts, key: str, req: CoverageRequirement) -> bool:
    if p.coverage != key:
        return False
    if key == "other" and req.label:
        return (p.label or "").strip().lower() == req.label.strip().lower()
    return True


def _in_force(p: PolicyFacts, as_of: date) -> bool:
    started = p.effective is None or p.effective <= as_of
    return started and p.expiration is not None and as_of < p.expiration


def _coverage_end(candidates: Sequence[PolicyFacts], as_of: date) -> date | None:
    """The date continuous coverage from `as_of` ends, following renewals that start in time."""
    end: date | None = None
    for p in sorted(candidates, key=_sort_key):
        if p.expiration is None:
            continue
        if end is None:
            if _in_force(p, as_of):
                end = p.expiration
        elif (p.effective or date.min) <= end and p.expiration > end:
            end = p.expiration
    return end


def _check_policy(
    key: str, req: CoverageRequirement, p: PolicyFacts, name: str
) -> list[Deficiency]:
    found: list[Deficiency] = []
    for limit, required in req.limits.items():
        actual = p.limits.get(limit)
        if actual is None or actual < required:
            found.append(
                Deficiency(
                    code="limit_below_minimum",
                    coverage=key,
                    limit=limit,
                    required=required,
                    actual=actual,
                    message=(
                        f"{name} {limit_name(limit)} limit is {money(actual)}; "
                        f"{money(required)} is required"
                    ),
                )
            )
    if req.additional_insured and p.additional_insured is not True:
        found.append(
            Deficiency(
                code="additional_insured_missing",
                coverage=key,
                required=True,
                actual=p.additional_insured,
                message=f"{name} does not name the certificate holder as additional insured",
            )
        )
    if req.waiver_of_subrogation and p.subrogation_waived is not True:
        found.append(
            Deficiency(
                code="waiver_missing",
                coverage=key,
                required=True,
                actual=p.subrogation_waived,
                message=f"{name} does not include a waiver of subrogation",
            )
        )
    if req.occurrence and p.occurrence is False:
        found.append(
            Deficiency(
                code="claims_made_not_accepted",
                coverage=key,
                required="occurrence",
                actual="claims-made",
                message=f"{name} is written claims-made; an occurrence form is required",
            )
        )
    for form in req.endorsements:
        wanted = form.replace(" ", "").upper()
        if not any(e.replace(" ", "").upper() == wanted for e in p.endorsements):
            found.append(
                Deficiency(
                    code="endorsement_missing",
                    coverage=key,
                    required=form,
                    actual=None,
                    message=f"{name} endorsement {form} is not on file",
                )
            )
    return found


def evaluate(
    policies: Iterable[PolicyFacts],
    profile: ProfileSpec,
    as_of: date,
    *,
    has_certificate: bool | None = None,
) -> Verdict:
    """Compute a vendor's verdict.

    `missing` when no certificate is on file; else `expired` when a required coverage has no
    unexpired policy but had one; else `non_compliant` for any other deficiency; else
    `expiring` when a required coverage ends within the profile's window (inclusive); else
    `compliant`. A newer policy for a coverage supersedes an older one.
    """
    all_policies = list(policies)
    on_file = bool(all_policies) if has_certificate is None else has_certificate
    if not on_file:
        return Verdict(
            status=Status.MISSING,
            as_of=as_of,
            deficiencies=(
                Deficiency(
                    code="no_certificate",
                    coverage="",
                    message="No certificate of insurance is on file",
                ),
            ),
            next_expiration=None,
        )

    deficiencies: list[Deficiency] = []
    ends: list[date] = []
    expired_dates: list[date] = []
    covered: list[str] = []
    for key, req in profile.coverages.items():
        name = coverage_name(key, req.label)
        candidates = [p for p in all_policies if _matches(p, key, req)]
        if not candidates:
            deficiencies.append(
                Deficiency(
                    code="missing_coverage",
                    coverage=key,
                    required=True,
                    actual=None,
                    message=f"{name} coverage is not on the certificate",
                )
            )
            continue
        newest = max(candidates, key=_sort_key)
        end = _coverage_end(candidates, as_of)
        if end is None:
            if newest.effective is not None and newest.effective > as_of:
                deficiencies.append(
                    Deficiency(
                        code="not_yet_effective",
                        coverage=key,
                        required=as_of.isoformat(),
                        actual=newest.effective.isoformat(),
                        message=f"{name} policy does not start until {newest.effective:%B %-d, %Y}",
                    )
                )
                continue
            lapsed = max((p.expiration for p in candidates if p.expiration), default=None)
            if lapsed is not None:
                expired_dates.append(lapsed)
            deficiencies.append(
                Deficiency(
                    code="expired",
                    coverage=key,
                    required=as_of.isoformat(),
                    actual=lapsed.isoformat() if lapsed else None,
                    message=(
                        f"{name} expired on {lapsed:%B %-d, %Y}"
                        if lapsed
                        else f"{name} has no expiration date"
                    ),
                )
            )
            continue
        ends.append(end)
        covered.append(key)
        deficiencies.extend(_check_policy(key, req, newest, name))
        days_left = (end - as_of).days
        if days_left <= profile.expiring_within_days:
            deficiencies.append(
                Deficiency(
                    code="expiring_soon",
                    coverage=key,
                    required=profile.expiring_within_days,
                    actual=end.isoformat(),
                    message=f"{name} expires on {end:%B %-d, %Y}, in {days_left} days",
                )
            )

    codes = {d.code for d in deficiencies}
    if "expired" in codes:
        status = Status.EXPIRED
    elif codes - {"expiring_soon"}:
        status = Status.NON_COMPLIANT
    elif "expiring_soon" in codes:
        status = Status.EXPIRING
    else:
        status = Status.COMPLIANT
    return Verdict(
        status=status,
        as_of=as_of,
        deficiencies=tuple(deficiencies),
        next_expiration=min(ends) if ends else None,
        expired_since=min(expired_dates) if expired_dates else None,
        covered=tuple(covered),
    )
