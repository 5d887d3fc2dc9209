from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from comms.compliance import PolicyFacts, Status, evaluate
from comms.profiles import ProfileSpec

PROFILE = ProfileSpec.model_validate(
    {
        "name": "standard",
        "expiring_within_days": 30,
        "coverages": {
            "general_liability": {
                "limits": {"each_occurrence": 1_000_000, "general_aggregate": 2_000_000},
                "additional_insured": True,
            },
            "automobile_liability": {"limits": {"combined_single_limit": 1_000_000}},
            "workers_compensation": {
                "limits": {"el_each_accident": 500_000},
                "waiver_of_subrogation": True,
            },
        },
    }
)
AS_OF = date(2026, 6, 1)


def good(
    coverage: str, *, start: date = date(2026, 1, 1), end: date = date(2027, 1, 1)
) -> PolicyFacts:
    limits = {
        "general_liability": {"each_occurrence": 1_000_000, "general_aggregate": 2_000_000},
        "automobile_liability": {"combined_single_limit": 1_000_000},
        "workers_compensation": {"el_each_accident": 500_000},
    }[coverage]
    return PolicyFacts(
        coverage=coverage,
        effective=start,
        expiration=end,
        limits=dict(limits),
        additional_insured=True,
        subrogation_waived=True,
    )


def full_set(**kw: date) -> list[PolicyFacts]:
    return [
        good(c, **kw) for c in ("general_liability", "automobile_liability", "workers_compensation")
    ]


def test_missing_when_nothing_on_file() -> None:
    v = evaluate([], PROFILE, AS_OF)
    assert v.status is Status.MISSING
    assert v.next_expiration is None


def test_compliant() -> None:
    v = evaluate(full_set(), PROFILE, AS_OF)
    assert v.status is Status.COMPLIANT
    assert v.deficiencies == ()
    assert v.next_expiration == date(2027, 1, 1)


def test_limit_below_minimum_reads_like_a_sentence() -> None:
    policies = full_set()
    policies[0] = PolicyFacts(
        **{
            **policies[0].__dict__,
            "limits": {"each_occurrence": 500_000, "general_aggregate": 2_000_000},
        }
    )
    v = evaluate(policies, PROFILE, AS_OF)
    assert v.status is Status.NON_COMPLIANT
    [d] = v.deficiencies
    assert d.code == "limit_below_minimum"
    assert d.coverage == "general_liability"
    assert (d.required, d.actual) == (1_000_000, 500_000)
    assert (
        d.message == "General liability each-occurrence limit is $500,000; $1,000,000 is required"
    )


def test_missing_coverage_ai_and_waiver() -> None:
    gl = PolicyFacts(**{**good("general_liability").__dict__, "additional_insured": False})
    wc = PolicyFacts(**{**good("workers_compensation").__dict__, "subrogation_waived": None})
    v = evaluate([gl, wc], PROFILE, AS_OF)
    codes = sorted(d.code for d in v.deficiencies)
    assert codes == ["additional_insured_missing", "missing_coverage", "waiver_missing"]
    assert v.status is Status.NON_COMPLIANT


def test_expired_beats_other_deficiencies() -> None:
    policies = full_set()
    policies[1] = good("automobile_liability", start=date(2025, 1, 1), end=date(2026, 1, 1))
    policies[0] = PolicyFacts(**{**policies[0].__dict__, "additional_insured": False})
    v = evaluate(policies, PROFILE, AS_OF)
    assert v.status is Status.EXPIRED
    assert v.expired_since == date(2026, 1, 1)


def test_expiration_day_itself_is_expired_and_window_is_inclusive() -> None:
    end = AS_OF + timedelta(days=30)
    v = evaluate(full_set(end=end), PROFILE, AS_OF)
    assert v.status is Status.EXPIRING  # exactly 30 days: inside the window
    v = evaluate(full_set(end=end + timedelta(days=1)), PROFILE, AS_OF)
    assert v.status is Status.COMPLIANT
    v = evaluate(full_set(end=AS_OF), PROFILE, AS_OF)
    assert v.status is Status.EXPIRED


def test_newer_policy_supersedes_older() -> None:
    old_bad = PolicyFacts(
        **{
            **good("general_liability", start=date(2025, 1, 1), end=date(2026, 1, 1)).__dict__,
            "additional_insured": False,
        }
    )
    policies = [old_bad, *full_set()]
    assert evaluate(policies, PROFILE, AS_OF).status is Status.COMPLIANT
    # a renewal that starts before the current one ends extends coverage
    renewal = good("general_liability", start=date(2026, 6, 20), end=date(2027, 6, 20))
    v = evaluate([*full_set(end=date(2026, 6, 20)), renewal], PROFILE, AS_OF)
    assert v.status is Status.EXPIRING  # auto and WC still end June 20
    assert v.next_expiration == date(2026, 6, 20)
    gl_only = [d for d in v.deficiencies if d.coverage == "general_liability"]
    assert gl_only == []


def test_future_policy_only_is_not_yet_effective() -> None:
    policies = full_set()
    policies[0] = good("general_liability", start=date(2026, 7, 1), end=date(2027, 7, 1))
    v = evaluate(policies, PROFILE, AS_OF)
    assert v.status is Status.NON_COMPLIANT
    assert [d.code for d in v.deficiencies] == ["not_yet_effective"]


def test_other_coverage_by_label_and_endorsements() -> None:
    profile = ProfileSpec.model_validate(
        {
            "name": "pro",
            "coverages": {
                "other": {"label": "Professional Liability"},
                "general_liability": {"endorsements": ["CG 20 10"]},
            },
        }
    )
    prof = PolicyFacts(
        coverage="other",
        label="professional liability",
        effective=date(2026, 1, 1),
        expiration=date(2027, 1, 1),
    )
    gl = PolicyFacts(
        coverage="general_liability",
        effective=date(2026, 1, 1),
        expiration=date(2027, 1, 1),
        endorsements=("CG2010",),
    )
    assert evaluate([prof, gl], profile, AS_OF).status is Status.COMPLIANT
    gl2 = PolicyFacts(
        coverage="general_liability", effective=date(2026, 1, 1), expiration=date(2027, 1, 1)
    )
    v = evaluate([prof, gl2], profile, AS_OF)
    assert [d.code for d in v.deficiencies] == ["endorsement_missing"]


# --- properties ---------------------------------------------------------------------------

coverages = st.sampled_from(
    ["general_liability", "automobile_liability", "workers_compensation", "umbrella_liability"]
)
days = st.integers(min_value=-800, max_value=800)
already_started = st.integers(min_value=-400, max_value=0)  # many still running on AS_OF
amounts = st.sampled_from([None, 100_000, 500_000, 1_000_000, 2_000_000, 5_000_000])


@st.composite
def policy(draw: st.DrawFn, starts: st.SearchStrategy[int] = days) -> PolicyFacts:
    start = AS_OF + timedelta(days=draw(starts))
    length = draw(st.integers(min_value=1, max_value=400))
    limits = {
        k: a
        for k in (
            "each_occurrence",
            "general_aggregate",
            "combined_single_limit",
            "el_each_accident",
        )
        if (a := draw(amounts)) is not None
    }
    return PolicyFacts(
        coverage=draw(coverages),
        effective=start,
        expiration=start + timedelta(days=length),
        limits=limits,
        additional_insured=draw(st.sampled_from([True, False, None])),
        subrogation_waived=draw(st.sampled_from([True, False, None])),
    )


policy_lists = st.lists(policy(), max_size=8)


@settings(max_examples=200, deadline=None)
@given(policy_lists, st.randoms())
def test_order_does_not_matter(policies: list[PolicyFacts], rnd: random.Random) -> None:
    shuffled = list(policies)
    rnd.shuffle(shuffled)
    assert evaluate(policies, PROFILE, AS_OF) == evaluate(shuffled, PROFILE, AS_OF)


@settings(max_examples=200, deadline=None)
@given(policy_lists)
def test_status_agrees_with_deficiencies(policies: list[PolicyFacts]) -> None:
    v = evaluate(policies, PROFILE, AS_OF)
    codes = {d.code for d in v.deficiencies}
    if not policies:
        assert v.status is Status.MISSING
    elif "expired" in codes:
        assert v.status is Status.EXPIRED
    elif codes - {"expiring_soon"}:
        assert v.status is Status.NON_COMPLIANT
    elif codes:
        assert v.status is Status.EXPIRING
    else:
        assert v.status is Status.COMPLIANT
    if v.next_expiration is not None:
        assert v.next_expiration > AS_OF
    for d in v.deficiencies:
        assert d.message and "None" not in d.message


@settings(max_examples=200, deadline=None)
@given(policy_lists)
def test_adding_a_fully_compliant_current_set_makes_it_compliant(
    policies: list[PolicyFacts],
) -> None:
    # newest policies (starting today, a year long) supersede anything older
    fresh = full_set(start=AS_OF + timedelta(days=0), end=AS_OF + timedelta(days=365))
    fresh = [PolicyFacts(**{**p.__dict__, "effective": AS_OF + timedelta(days=801)}) for p in fresh]
    # ...but they only start in the future, so cannot fix today's status by themselves
    current = full_set(start=AS_OF - timedelta(days=1), end=AS_OF + timedelta(days=365))
    older = [
        p for p in policies if p.effective is not None and p.effective < AS_OF - timedelta(days=1)
    ]
    v = evaluate([*older, *current], PROFILE, AS_OF)
    assert v.status is Status.COMPLIANT
    assert fresh  # the future set is only used to build the comparison above


@settings(max_examples=200, deadline=None)
@given(policy_lists, st.integers(min_value=1, max_value=10))
def test_raising_limits_never_adds_limit_deficiencies(
    policies: list[PolicyFacts], factor: int
) -> None:
    before = evaluate(policies, PROFILE, AS_OF)
    raised = [
        PolicyFacts(**{**p.__dict__, "limits": {k: v * factor for k, v in p.limits.items()}})
        for p in policies
    ]
    after = evaluate(raised, PROFILE, AS_OF)
    count = lambda v: sum(d.code == "limit_below_minimum" for d in v.deficiencies)  # noqa: E731
    assert count(after) <= count(before)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(policy(starts=already_started), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=400),
)
def test_time_only_makes_things_worse_for_policies_already_started(
    started: list[PolicyFacts], later: int
) -> None:
    rank = {
        s: i
        for i, s in enumerate(
            [Status.COMPLIANT, Status.EXPIRING, Status.NON_COMPLIANT, Status.EXPIRED]
        )
    }
    now_v = evaluate(started, PROFILE, AS_OF)
    later_v = evaluate(started, PROFILE, AS_OF + timedelta(days=later))
    assert rank[later_v.status] >= rank[now_v.status], (now_v, later_v)
