"""The compliance verdict: a pure function of certificates' policies, a profile and a date."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
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


IN_FORCE = "in_force"  # `required` of expired / not_yet_effective: a policy in force that day

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
    waived: tuple[Deficiency, ...] = ()  # deficiencies an active waiver set aside
    waivers: tuple[int, ...] = ()  # the ids of the waivers that applied

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


ANY_RULE = "*"  # a waiver's code that sets aside every rule of its coverage


@dataclass(frozen=True)
class WaiverRule:
    """What a verdict needs from one waiver: the requirement it sets aside for one vendor
    and the days it applies, from `starts_on` up to, not including, `expires_on` (None:
    permanent) or `revoked_on`. `code` is a deficiency code or ANY_RULE; an empty `limit`
    matches every limit."""

    id: int
    coverage: str
    code: str
    starts_on: date
    expires_on: date | None = None
    limit: str = ""
    revoked_on: date | None = None

    def active_on(self, day: date) -> bool:
        if day < self.starts_on:
            return False
        if self.expires_on is not None and day >= self.expires_on:
            return False
        return self.revoked_on is None or day < self.revoked_on

    def covers(self, d: Deficiency) -> bool:
        if d.coverage != self.coverage:
            return False
        if self.code != ANY_RULE and d.code != self.code:
            return False
        return not self.limit or d.limit == self.limit


def waiver_change_dates(rules: Iterable[WaiverRule]) -> list[date]:
    """The days on which a waiver starts or stops applying (a verdict may change then)."""
    days = set()
    for r in rules:
        days.add(r.starts_on)
        for end in (r.expires_on, r.revoked_on):
            if end is not None:
                days.add(end)
    return sorted(days)


def _set_aside(
    found: Sequence[Deficiency], rules: Sequence[WaiverRule], as_of: date
) -> tuple[list[Deficiency], list[Deficiency], set[int]]:
    """(kept, waived, ids of the waivers used): the deficiencies an active waiver covers."""
    kept: list[Deficiency] = []
    waived: list[Deficiency] = []
    used: set[int] = set()
    active = [r for r in rules if r.active_on(as_of)]
    for d in found:
        hits = [r.id for r in active if r.covers(d)]
        if hits:
            waived.append(d)
            used.update(hits)
        else:
            kept.append(d)
    return kept, waived, used


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


# --- the checks ----------------------------------------------------------------------------
# Each required coverage goes through CHECKS in order. A check is one small function named by
# the deficiency code it produces; a `final` check that finds something ends that coverage (a
# coverage not on file has no limits to check). Add a rule by adding a function here.


class Coverage:
    """What the checks see of one required coverage: its policies on file, the newest of
    them and the date continuous coverage ends (None: not in force on `as_of`)."""

    __slots__ = (
        "as_of",
        "candidates",
        "end",
        "expiring_within_days",
        "key",
        "name",
        "newest",
        "req",
    )

    def __init__(
        self,
        key: str,
        req: CoverageRequirement,
        candidates: list[PolicyFacts],
        as_of: date,
        expiring_within_days: int,
    ) -> None:
        self.key = key
        self.req = req
        self.name = coverage_name(key, req.label)
        self.candidates = candidates
        self.as_of = as_of
        self.expiring_within_days = expiring_within_days
        self.newest = max(candidates, key=_sort_key) if candidates else None
        self.end = _coverage_end(candidates, as_of) if candidates else None

    def lapsed(self) -> date | None:
        return max((p.expiration for p in self.candidates if p.expiration), default=None)

    def deficiency(self, code: str, message: str, **found: Any) -> Deficiency:
        return Deficiency(code=code, coverage=self.key, message=message, **found)


Found = Sequence[Deficiency]
CheckFn = Callable[[Coverage], Found]


@dataclass(frozen=True)
class Check:
    code: str
    run: CheckFn
    final: bool = False


CHECKS: list[Check] = []


def check(code: str, *, final: bool = False) -> Callable[[CheckFn], CheckFn]:
    """Register a check (in the order of definition) that produces deficiency `code`."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS.append(Check(code, fn, final))
        return fn

    return register


@check("missing_coverage", final=True)
def missing_coverage(c: Coverage) -> Found:
    if c.candidates:
        return ()
    message = f"{c.name} coverage is not on the certificate"
    return (c.deficiency("missing_coverage", message, required=True, actual=None),)


@check("not_yet_effective", final=True)
def not_yet_effective(c: Coverage) -> Found:
    start = c.newest.effective if c.newest is not None else None
    if c.end is not None or start is None or start <= c.as_of:
        return ()
    message = f"{c.name} policy does not start until {start:%B %-d, %Y}"
    return (
        c.deficiency("not_yet_effective", message, required=IN_FORCE, actual=start.isoformat()),
    )


@check("expired", final=True)
def expired(c: Coverage) -> Found:
    if c.end is not None:
        return ()
    lapsed = c.lapsed()
    when = f"expired on {lapsed:%B %-d, %Y}" if lapsed else "has no expiration date"
    return (
        c.deficiency(
            "expired",
            f"{c.name} {when}",
            required=IN_FORCE,
            actual=lapsed.isoformat() if lapsed else None,
        ),
    )


@check("limit_below_minimum")
def limit_below_minimum(c: Coverage) -> Found:
    assert c.newest is not None
    found = []
    for limit, required in c.req.limits.items():
        actual = c.newest.limits.get(limit)
        if actual is None or actual < required:
            message = (
                f"{c.name} {limit_name(limit)} limit is {money(actual)}; "
                f"{money(required)} is required"
            )
            found.append(
                c.deficiency(
                    "limit_below_minimum", message, limit=limit, required=required, actual=actual
                )
            )
    return found


@check("additional_insured_missing")
def additional_insured_missing(c: Coverage) -> Found:
    assert c.newest is not None
    if not c.req.additional_insured or c.newest.additional_insured is True:
        return ()
    message = f"{c.name} does not name the certificate holder as additional insured"
    return (
        c.deficiency(
            "additional_insured_missing",
            message,
            required=True,
            actual=c.newest.additional_insured,
        ),
    )


@check("waiver_missing")
def waiver_missing(c: Coverage) -> Found:
    assert c.newest is not None
    if not c.req.waiver_of_subrogation or c.newest.subrogation_waived is True:
        return ()
    message = f"{c.name} does not include a waiver of subrogation"
    return (
        c.deficiency("waiver_missing", message, required=True, actual=c.newest.subrogation_waived),
    )


@check("claims_made_not_accepted")
def claims_made_not_accepted(c: Coverage) -> Found:
    assert c.newest is not None
    if not c.req.occurrence or c.newest.occurrence is not False:
        return ()
    message = f"{c.name} is written claims-made; an occurrence form is required"
    return (
        c.deficiency(
            "claims_made_not_accepted", message, required="occurrence", actual="claims-made"
        ),
    )


@check("endorsement_missing")
def endorsement_missing(c: Coverage) -> Found:
    assert c.newest is not None
    if not c.req.endorsements:
        return ()
    held = {e.replace(" ", "").upper() for e in c.newest.endorsements}
    return [
        c.deficiency(
            "endorsement_missing",
            f"{c.name} endorsement {form} is not on file",
            required=form,
            actual=None,
        )
        for form in c.req.endorsements
        if form.replace(" ", "").upper() not in held
    ]


@check("expiring_soon")
def expiring_soon(c: Coverage) -> Found:
    assert c.end is not None
    days_left = (c.end - c.as_of).days
    if days_left > c.expiring_within_days:
        return ()
    # no "in N days": a verdict holds what changes only with its inputs or on set dates (the
    # stored verdicts keep it until then); a reader counts the days from `actual`
    message = f"{c.name} expires on {c.end:%B %-d, %Y}"
    return (
        c.deficiency(
            "expiring_soon",
            message,
            required=c.expiring_within_days,
            actual=c.end.isoformat(),
        ),
    )


def check_coverage(c: Coverage) -> list[Deficiency]:
    """Run CHECKS on one coverage, in order, up to the first final check that finds one."""
    found: list[Deficiency] = []
    for rule in CHECKS:
        hits = rule.run(c)
        if hits:
            found.extend(hits)
            if rule.final:
                break
    return found


def evaluate(
    policies: Iterable[PolicyFacts],
    profile: ProfileSpec,
    as_of: date,
    *,
    has_certificate: bool | None = None,
    waivers: Iterable[WaiverRule] = (),
) -> Verdict:
    """Compute a vendor's verdict.

    `missing` when no certificate is on file; else `expired` when a required coverage has no
    unexpired policy but had one; else `non_compliant` for any other deficiency; else
    `expiring` when a required coverage ends within the profile's window (inclusive); else
    `compliant`. A newer policy for a coverage supersedes an older one.

    A deficiency that one of `waivers` covers on `as_of` counts for nothing; it is kept in
    `Verdict.waived`.
    """
    all_policies = list(policies)
    rules = list(waivers)
    on_file = bool(all_policies) if has_certificate is None else has_certificate
    if not on_file:
        none = Deficiency(
            code="no_certificate", coverage="", message="No certificate of insurance is on file"
        )
        kept, waived, used = _set_aside([none], rules, as_of)
        return Verdict(
            status=Status.MISSING if kept else Status.COMPLIANT,
            as_of=as_of,
            deficiencies=tuple(kept),
            next_expiration=None,
            waived=tuple(waived),
            waivers=tuple(sorted(used)),
        )

    deficiencies: list[Deficiency] = []
    ends: list[date] = []
    expired_dates: list[date] = []
    covered: list[str] = []
    set_aside: list[Deficiency] = []
    used_waivers: set[int] = set()
    for key, req in profile.coverages.items():
        candidates = [p for p in all_policies if _matches(p, key, req)]
        coverage = Coverage(key, req, candidates, as_of, profile.expiring_within_days)
        found, waived, used = _set_aside(check_coverage(coverage), rules, as_of)
        deficiencies.extend(found)
        set_aside.extend(waived)
        used_waivers.update(used)
        if coverage.end is not None:
            ends.append(coverage.end)
            covered.append(key)
        elif found and found[-1].code == "expired":
            lapsed = coverage.lapsed()
            if lapsed is not None:
                expired_dates.append(lapsed)

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
        waived=tuple(set_aside),
        waivers=tuple(sorted(used_waivers)),
    )
