"""Waivers in the verdict: an active waiver sets its deficiency aside, on the days it applies
(from its start up to, not including, its expiry or revocation), and nothing else."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from comms.compliance import (
    ANY_RULE,
    PolicyFacts,
    Status,
    WaiverRule,
    evaluate,
    waiver_change_dates,
)
from tests.compliance.test_evaluate import AS_OF, PROFILE, full_set

START = date(2026, 5, 1)


def _short_gl_limit() -> list[PolicyFacts]:
    policies = full_set()
    gl = policies[0]
    policies[0] = replace(gl, limits={**gl.limits, "each_occurrence": 500_000})
    return policies


def test_an_active_waiver_sets_its_deficiency_aside() -> None:
    policies = _short_gl_limit()
    assert evaluate(policies, PROFILE, AS_OF).status is Status.NON_COMPLIANT
    rule = WaiverRule(
        id=7,
        coverage="general_liability",
        code="limit_below_minimum",
        limit="each_occurrence",
        starts_on=START,
        expires_on=date(2026, 7, 1),
    )
    v = evaluate(policies, PROFILE, AS_OF, waivers=[rule])
    assert v.status is Status.COMPLIANT
    assert [d.code for d in v.waived] == ["limit_below_minimum"] and v.waivers == (7,)
    # up to, not including, the expiry date; and not before it was granted
    assert evaluate(policies, PROFILE, date(2026, 6, 30), waivers=[rule]).compliant
    assert evaluate(policies, PROFILE, date(2026, 7, 1), waivers=[rule]).status is (
        Status.NON_COMPLIANT
    )
    assert not evaluate(policies, PROFILE, date(2026, 4, 30), waivers=[rule]).compliant


def test_a_waiver_of_another_limit_or_coverage_changes_nothing() -> None:
    policies = _short_gl_limit()
    other_limit = WaiverRule(
        id=1, coverage="general_liability", code="limit_below_minimum", limit="general_aggregate",
        starts_on=START,
    )  # fmt: skip
    other_cov = WaiverRule(id=2, coverage="automobile_liability", code=ANY_RULE, starts_on=START)
    v = evaluate(policies, PROFILE, AS_OF, waivers=[other_limit, other_cov])
    assert v.status is Status.NON_COMPLIANT and v.waived == () and v.waivers == ()


def test_revoked_and_permanent_waivers() -> None:
    policies = _short_gl_limit()
    permanent = WaiverRule(id=3, coverage="general_liability", code=ANY_RULE, starts_on=START)
    assert evaluate(policies, PROFILE, date(2030, 1, 1), waivers=[permanent]).status is not (
        Status.NON_COMPLIANT
    )
    revoked = replace(permanent, revoked_on=date(2026, 6, 1))
    assert evaluate(policies, PROFILE, date(2026, 5, 31), waivers=[revoked]).compliant
    assert not evaluate(policies, PROFILE, date(2026, 6, 1), waivers=[revoked]).compliant


def test_an_expired_coverage_and_a_missing_certificate_can_be_waived() -> None:
    lapsed = full_set(end=date(2026, 5, 1))
    assert evaluate(lapsed, PROFILE, AS_OF).status is Status.EXPIRED
    rules = [
        WaiverRule(id=i, coverage=c, code="expired", starts_on=START)
        for i, c in enumerate(("general_liability", "automobile_liability", "workers_compensation"))
    ]
    v = evaluate(lapsed, PROFILE, AS_OF, waivers=rules[:2])
    assert v.status is Status.EXPIRED and len(v.waived) == 2
    assert evaluate(lapsed, PROFILE, AS_OF, waivers=rules).status is Status.COMPLIANT
    nothing = WaiverRule(id=9, coverage="", code="no_certificate", starts_on=START)
    assert evaluate([], PROFILE, AS_OF).status is Status.MISSING
    assert evaluate([], PROFILE, AS_OF, waivers=[nothing]).status is Status.COMPLIANT


def test_change_dates_name_every_start_and_end() -> None:
    a = WaiverRule(id=1, coverage="x", code=ANY_RULE, starts_on=START, expires_on=date(2026, 9, 1))
    b = WaiverRule(id=2, coverage="y", code=ANY_RULE, starts_on=START, revoked_on=date(2026, 8, 1))
    assert waiver_change_dates([a, b]) == [START, date(2026, 8, 1), date(2026, 9, 1)]
