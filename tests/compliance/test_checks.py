"""The compliance rules are registered units, one deficiency code each, in a fixed order."""

from __future__ import annotations

from datetime import date

from comms.compliance import CHECKS, PolicyFacts, evaluate
from comms.profiles import CoverageRequirement, ProfileSpec

AS_OF = date(2026, 6, 1)


def test_the_checks_in_order() -> None:
    assert [c.code for c in CHECKS] == [
        "missing_coverage",
        "not_yet_effective",
        "expired",
        "limit_below_minimum",
        "additional_insured_missing",
        "waiver_missing",
        "claims_made_not_accepted",
        "endorsement_missing",
        "expiring_soon",
    ]
    assert [c.code for c in CHECKS if c.final] == [
        "missing_coverage",
        "not_yet_effective",
        "expired",
    ]
    assert all(c.run.__name__ == c.code for c in CHECKS)  # a rule is named for its code


def test_every_check_fires_in_its_order() -> None:
    profile = ProfileSpec(
        name="p",
        expiring_within_days=30,
        coverages={
            "general_liability": CoverageRequirement(
                limits={"each_occurrence": 1_000_000},
                additional_insured=True,
                waiver_of_subrogation=True,
                occurrence=True,
                endorsements=["CG 20 10"],
            ),
            "automobile_liability": CoverageRequirement(),
            "umbrella_liability": CoverageRequirement(),
            "workers_compensation": CoverageRequirement(),
        },
    )
    policies = [
        PolicyFacts(
            "general_liability",
            date(2026, 1, 1),
            date(2026, 6, 20),
            limits={"each_occurrence": 500_000},
            occurrence=False,
        ),
        PolicyFacts("automobile_liability", date(2025, 1, 1), date(2026, 1, 1)),
        PolicyFacts("umbrella_liability", date(2026, 7, 1), date(2027, 7, 1)),
    ]
    verdict = evaluate(policies, profile, AS_OF)
    assert [(d.coverage, d.code) for d in verdict.deficiencies] == [
        ("general_liability", "limit_below_minimum"),
        ("general_liability", "additional_insured_missing"),
        ("general_liability", "waiver_missing"),
        ("general_liability", "claims_made_not_accepted"),
        ("general_liability", "endorsement_missing"),
        ("general_liability", "expiring_soon"),
        ("automobile_liability", "expired"),
        ("umbrella_liability", "not_yet_effective"),
        ("workers_compensation", "missing_coverage"),
    ]
    assert verdict.status.value == "expired" and verdict.expired_since == date(2026, 1, 1)
    assert verdict.covered == ("general_liability",)
