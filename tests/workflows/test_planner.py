"""The one planner (`workflows.planner.plan_case`), rule by rule, on records: no database.

Each test builds a case of the shipped `expiring` ladder (a policy expiring on Friday
2027-01-15, so its first step is due on Wednesday 2026-12-16 at 09:00 New York) with what a
batch load would have read, plans it, and checks the plan.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from comms.compliance import Status, Verdict
from comms.settings import Settings, get_settings
from workflows.batch_load import BatchData
from workflows.case_workflow import campaign_workflow
from workflows.definitions import Step, get_workflow
from workflows.models import Campaign
from workflows.planner import (
    EXHAUSTED,
    GRACE_BUSINESS_DAYS,
    RECHECK,
    CasePlan,
    Needs,
    failed_condition,
    plan_case,
)
from workflows.records import AgentRow, CaseRow, VendorRow

EXPIRES = date(2027, 1, 15)
FIRST = datetime(2026, 12, 16, 14, 0, tzinfo=UTC)  # 09:00 New York, 30 days before
AS_OF = date(2026, 12, 16)


def vendor_row(**changes: Any) -> VendorRow:
    base = VendorRow(
        id=7,
        name="Acme Roofing LLC",
        email="ops@acme.example",
        phone="+12125550142",
        timezone=None,
        agent_id=3,
        profile_id=1,
        opt_out_email=False,
        opt_out_sms=False,
        opt_out_call=False,
        email_invalid=False,
        phone_invalid=False,
        active=True,
    )
    return base._replace(**changes)


AGENT = AgentRow(
    id=3, email="dana@brokerage.example", phone="+12125550199", email_invalid=False,
    phone_invalid=False,
)  # fmt: skip


def verdict(
    status: Status = Status.EXPIRING,
    next_expiration: date | None = EXPIRES,
    expired_since: date | None = None,
) -> Verdict:
    return Verdict(
        status=status,
        as_of=AS_OF,
        deficiencies=(),
        next_expiration=next_expiration,
        expired_since=expired_since,
    )


def case_row(**changes: Any) -> CaseRow:
    case = CaseRow(
        id=11,
        vendor_id=7,
        trigger="expiring",
        workflow="expiring",
        campaign_id=0,
        state="active",
        step_index=0,
        trigger_date=EXPIRES,
        next_action_at=FIRST,
        snoozed_until=None,
        step_attempts=0,
        last_outcome=None,
        data={"key": f"exp:{EXPIRES.isoformat()}", "nominal": FIRST.isoformat()},
        updated_at=FIRST - timedelta(days=1),
        resolved_at=None,
    )
    return replace(case, **changes)


def batch(
    case: CaseRow,
    *,
    vendor: VendorRow | None = None,
    agent: AgentRow | None = AGENT,
    seen: Verdict | None = None,
) -> BatchData:
    vendor = vendor or vendor_row()
    data = BatchData(
        vendors={vendor.id: vendor},
        agents={agent.id: agent} if agent is not None else {},
        verdicts={vendor.id: seen or verdict()},
    )
    if case.campaign_id == 0:
        data.workflows[case.id] = get_workflow(case.workflow)
    return data


def plan(case: CaseRow, data: BatchData, *, now: datetime = FIRST, **kw: Any) -> CasePlan:
    return plan_case(case, data, now=now, settings=get_settings(), **kw)


def kinds(p: CasePlan) -> list[tuple[str, str | None, str]]:
    return [(e.kind, e.step, e.reason) for e in p.events]


# --- when a pass runs at all -------------------------------------------------------------------


def test_a_case_not_yet_due_or_not_open_is_left_alone() -> None:
    early = case_row()
    for case in (early, case_row(state="paused"), case_row(next_action_at=None)):
        p = plan(case, batch(case), now=FIRST - timedelta(minutes=1))
        assert p.done and p.needs is None and not p.events and not p.rows
    assert early.step_index == 0 and early.next_action_at == FIRST


def test_failures_the_outbox_reported_are_left_to_the_per_case_applier() -> None:
    case = case_row(data={"key": f"exp:{EXPIRES}", "events_seen": 40})
    data = batch(case)
    data.newest_failure[case.id] = 41
    p = plan(case, data)
    assert p.needs is Needs.ABSORB and not p.events and case.step_index == 0
    data.newest_failure[case.id] = 40  # already absorbed
    assert plan(case, data).needs is None


def test_an_unknown_workflow_or_vendor_is_left_to_the_per_case_applier() -> None:
    case = case_row()
    data = batch(case)
    del data.workflows[case.id]
    assert plan(case, data).needs is Needs.UNKNOWN
    data = batch(case)
    data.vendors.clear()
    assert plan(case, data).needs is Needs.UNKNOWN


# --- the verdict, rechecked before every step --------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "seen", "why"),
    [
        (vendor_row(), verdict(Status.COMPLIANT, date(2028, 1, 1)), "verdict is compliant"),
        (vendor_row(active=False), verdict(), "vendor inactive"),
    ],
)
def test_a_case_the_verdict_no_longer_calls_for_resolves_without_sending(
    vendor: VendorRow, seen: Verdict, why: str
) -> None:
    case = case_row()
    p = plan(case, batch(case, vendor=vendor, seen=seen))
    assert p.done and not p.rows
    assert kinds(p) == [("resolved", None, f"{RECHECK}; {why}")]
    assert (case.state, case.next_action_at, case.resolved_at) == ("resolved", None, FIRST)


def test_a_case_to_supersede_or_switch_or_a_second_open_one_is_left_to_sync() -> None:
    case = case_row()
    switch = verdict(Status.NON_COMPLIANT)  # calls for a deficient case
    assert plan(case, batch(case, seen=switch)).needs is Needs.SYNC
    later = verdict(next_expiration=EXPIRES - timedelta(days=5))  # another key
    assert plan(case, batch(case, seen=later)).needs is Needs.SYNC
    data = batch(case)
    data.other_open.add(case.id)
    p = plan(case, data)
    assert p.needs is Needs.SYNC and not p.events and case.step_index == 0


@pytest.mark.parametrize(
    ("state", "stop_when_compliant", "seen", "why"),
    [
        ("stopped", True, verdict(), "the campaign was stopped"),
        ("active", True, verdict(Status.COMPLIANT, date(2028, 1, 1)), "the vendor is compliant"),
        ("active", False, verdict(Status.COMPLIANT, date(2028, 1, 1)), None),
    ],
)
def test_campaign_cases_stop_as_their_campaign_says(
    state: str, stop_when_compliant: bool, seen: Verdict, why: str | None
) -> None:
    campaign = Campaign(
        id=5, name="c", template="reminder", state=state, stop_when_compliant=stop_when_compliant
    )
    case = case_row(trigger="campaign", workflow="campaign", campaign_id=5)
    data = batch(case, seen=seen)
    data.campaigns[5] = campaign
    data.workflows[case.id] = campaign_workflow(campaign)
    p = plan(case, data)
    if why is None:
        assert p.steps == ["campaign"] and case.state == "active"
    else:
        assert kinds(p) == [("resolved", None, why)] and not p.rows


# --- the ladder --------------------------------------------------------------------------------


def test_a_due_step_plans_a_row_per_recipient_and_schedules_the_next() -> None:
    case = case_row()
    p = plan(case, batch(case))
    assert p.done and p.steps == ["renewal_request"]
    assert [(r.planned.new.recipient_kind, r.planned.new.recipient) for r in p.rows] == [
        ("agent", "dana@brokerage.example"),
        ("vendor", "ops@acme.example"),
    ]
    assert [r.planned.new.idempotency_key for r in p.rows] == [
        "case-11-renewal_request-agent",
        "case-11-renewal_request-vendor",
    ]
    (done,) = p.events
    assert (done.kind, done.reason) == ("step_done", "email to agent, vendor")
    assert done.deliveries == p.rows
    assert done.data == {"nominal": FIRST.isoformat(), "attempt": 0}
    # the next step: 21 days before, 09:00 New York (Friday 2026-12-25 is a business day here)
    nxt = datetime(2026, 12, 25, 14, 0, tzinfo=UTC)
    assert (case.step_index, case.next_action_at, case.data["nominal"]) == (1, nxt, nxt.isoformat())
    assert case.updated_at == FIRST


def test_a_retried_step_plans_new_keys_and_records_the_attempt() -> None:
    case = case_row(step_attempts=2)
    p = plan(case, batch(case))
    assert [r.planned.new.idempotency_key for r in p.rows] == [
        "case-11-renewal_request-agent-a2",
        "case-11-renewal_request-vendor-a2",
    ]
    assert p.events[-1].data["attempt"] == 2 and case.step_attempts == 0


def test_steps_fallen_due_run_in_one_pass_up_to_the_limit() -> None:
    case = case_row()
    later = datetime(2027, 1, 20, 15, 0, tzinfo=UTC)
    p = plan(case, batch(case), now=later, max_steps=3)
    assert p.steps == ["renewal_request", "renewal_reminder", "sms_reminder"]
    assert not p.done and case.step_index == 3
    p = plan(case, batch(case), now=later)
    assert p.steps == ["reminder_call", "agent_call_task", "expired_notice"] and p.done


def test_a_recipient_without_an_address_is_skipped_and_the_others_get_theirs() -> None:
    case = case_row()
    p = plan(case, batch(case, vendor=vendor_row(email=None)))
    assert [r.planned.new.recipient_kind for r in p.rows] == ["agent"]
    skipped = p.events[0]
    assert (skipped.kind, skipped.reason, skipped.data) == (
        "recipient_skipped",
        "the vendor has no email",
        {"to": "vendor"},
    )
    assert p.events[1].kind == "step_done" and p.steps == ["renewal_request"]


def test_a_step_whose_condition_fails_is_skipped_and_the_ladder_moves_on() -> None:
    case = case_row(step_index=2)  # sms_reminder, when: [has_phone]
    p = plan(case, batch(case, vendor=vendor_row(phone=None)))
    assert kinds(p) == [("step_skipped", "sms_reminder", "condition has_phone not met")]
    assert not p.rows and not p.steps and case.step_index == 3


@pytest.mark.parametrize(
    ("condition", "holds", "fails"),
    [
        ("has_phone", {}, {"phone": None}),
        ("has_phone", {}, {"phone_invalid": True}),
        ("has_email", {}, {"email": None}),
        ("has_email", {}, {"email_invalid": True}),
        ("has_agent", {}, {"agent": None}),
        ("has_agent_email", {}, {"agent": AGENT._replace(email_invalid=True)}),
        ("has_agent_phone", {}, {"agent": AGENT._replace(phone=None)}),
        ("last_email_bounced", {"email": "bounced"}, {"email": "sent"}),
        ("last_sms_failed", {"sms": "failed"}, {}),
        ("no_reply", {}, {"last_outcome": "reached"}),
    ],
)
def test_each_step_condition(condition: str, holds: dict[str, Any], fails: dict[str, Any]) -> None:
    step = Step.model_validate(
        {"id": "s", "channel": "sms", "to": ["vendor"], "template": "t", "delay": "0 days",
         "when": [condition]}
    )  # fmt: skip

    def check(changes: dict[str, Any]) -> str | None:
        last = condition.startswith("last_")
        statuses = {k: v for k, v in changes.items() if last and k in ("email", "sms")}
        fields = {k: v for k, v in changes.items() if k not in statuses}
        agent = fields.pop("agent", AGENT)
        outcome = fields.pop("last_outcome", None)
        return failed_condition(step, outcome, vendor_row(**fields), agent, statuses.get)

    assert check(holds) is None
    assert check(fails) == condition


def test_a_condition_reads_the_rows_planned_earlier_in_the_same_pass() -> None:
    case = case_row()
    data = batch(case)
    data.last_status[(case.id, "email")] = "bounced"
    p = plan(case, data)
    assert p.newest == {"email": "queued"}  # what a later `last_email_bounced` would read


def test_a_waiting_case_whose_snooze_ended_is_active_again() -> None:
    case = case_row(state="waiting", snoozed_until=FIRST - timedelta(hours=1))
    p = plan(case, batch(case))
    assert case.state == "active" and case.snoozed_until is None and p.steps


def test_a_phone_step_is_due_inside_the_recipients_quiet_hours() -> None:
    # the SMS step (14 days before, 09:00 New York) for a vendor in Hawaii: 08:00 there
    case = case_row(step_index=1, next_action_at=datetime(2026, 12, 25, 14, 0, tzinfo=UTC))
    vendor = vendor_row(timezone="Pacific/Honolulu")
    plan(case, batch(case, vendor=vendor), now=datetime(2026, 12, 25, 14, 0, tzinfo=UTC))
    assert case.step_index == 2
    assert case.next_action_at == datetime(2027, 1, 1, 18, 0, tzinfo=UTC)
    assert case.data["nominal"] == datetime(2027, 1, 1, 14, 0, tzinfo=UTC).isoformat()


def test_after_the_last_step_a_grace_period_then_exhausted() -> None:
    wf = get_workflow("expiring")
    last = len(wf.steps) - 1
    due = datetime(2027, 1, 22, 14, 0, tzinfo=UTC)
    case = case_row(step_index=last, next_action_at=due, trigger_date=EXPIRES)
    settings: Settings = get_settings()
    plan(case, batch(case, seen=verdict(Status.EXPIRED, None, EXPIRES)), now=due)
    assert case.step_index == len(wf.steps) and case.data["nominal"] is None
    assert case.next_action_at == datetime(2027, 1, 29, 14, 0, tzinfo=UTC)  # 5 business days
    assert GRACE_BUSINESS_DAYS == 5 and settings.business_days == [0, 1, 2, 3, 4]
    p = plan(
        case, batch(case, seen=verdict(Status.EXPIRED, None, EXPIRES)), now=case.next_action_at
    )
    assert kinds(p) == [("exhausted", None, EXHAUSTED)] and p.done
    assert (case.state, case.next_action_at) == ("exhausted", None)
