"""Channel specifications: what each shipped channel declares, how a recipient role finds its
address, and a new channel added as one module plus data (a workflow names it, the planner
makes its rows, the calendar keeps its window, the dispatcher renders it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import comms.channel_spec as registry
from comms.channel_spec import ChannelSpec, channel_names, channel_spec, register_channel
from comms.deferred import rendered_values
from comms.models import Delivery
from comms.settings import get_settings
from comms.text_channel import render_text_row, text_row
from telephony.channels import phone_address
from tests.workflows.test_planner import AGENT, batch, case_row, vendor_row
from workflows.calendar import next_allowed
from workflows.definitions import load_workflow
from workflows.outputs import recipient_for
from workflows.planner import plan_case


def test_the_shipped_channels_and_what_they_declare() -> None:
    assert set(channel_names()) == {"email", "sms", "call", "call_task"}
    declared = {
        name: (spec.window, spec.failure_outcome, spec.opt_out, spec.by_phone)
        for name in channel_names()
        for spec in [channel_spec(name)]
    }
    assert declared == {
        "email": ("business_days", "email_bounced", "opt_out_email", False),
        "sms": ("quiet_hours", "sms_failed", "opt_out_sms", True),
        "call": ("quiet_hours", "call_failed", "opt_out_call", True),
        "call_task": ("business_days", None, None, True),
    }
    assert channel_spec("call").template_path("reminder_intro") == "voice/en/reminder_intro.txt"
    with pytest.raises(LookupError, match="no channel named 'fax'"):
        channel_spec("fax")


@pytest.mark.parametrize(
    ("kind", "channel", "changes", "address", "reason"),
    [
        ("vendor", "email", {}, "ops@acme.example", None),
        ("vendor", "email", {"opt_out_email": True}, None, "the vendor opted out of email"),
        ("vendor", "email", {"email_invalid": True}, None, "the vendor's email is flagged invalid"),
        ("vendor", "email", {"email": None}, None, "the vendor has no email"),
        ("agent", "email", {}, "dana@brokerage.example", None),
        ("agent", "email", {"agent": None}, None, "the vendor has no agent"),
        ("client", "email", {}, None, "no client_contact_email configured"),
        ("vendor", "sms", {}, "+12125550142", None),
        ("vendor", "sms", {"opt_out_sms": True}, None, "the vendor opted out of SMS"),
        ("vendor", "call", {"opt_out_call": True}, None, "the vendor opted out of calls"),
        ("vendor", "call_task", {"opt_out_call": True}, "+12125550142", None),
        ("vendor", "sms", {"phone_invalid": True}, None, "the vendor's phone is flagged invalid"),
        ("vendor", "call", {"phone": None}, None, "the vendor has no phone"),
        ("agent", "call_task", {}, "+12125550199", None),
        ("client", "sms", {}, None, "the client contact is reached by email only"),
    ],
)
def test_each_channel_finds_a_recipient_roles_address(
    kind: str, channel: str, changes: dict[str, Any], address: str | None, reason: str | None
) -> None:
    agent = changes.pop("agent", AGENT)
    found = recipient_for(kind, channel, vendor_row(**changes), agent, get_settings())
    assert (found.kind, found.address, found.skip_reason) == (kind, address, reason)


def test_a_call_step_plans_its_prompt_and_renders_it_when_sent() -> None:
    due = datetime(2027, 1, 8, 14, 0, tzinfo=UTC)
    case = case_row(step_index=3, next_action_at=due)
    plan = plan_case(case, batch(case), now=due, settings=get_settings())
    (row,) = plan.rows
    new = row.planned.new
    assert (new.channel, new.template) == ("call", "reminder_intro")
    assert new.content is not None
    assert new.content["template_path"] == "voice/en/reminder_intro.txt"
    assert new.content["render"]["pending"]
    delivery = Delivery(
        idempotency_key=new.idempotency_key,
        channel="call",
        recipient=new.recipient,
        recipient_kind="vendor",
        template=new.template,
        content=new.content,
    )
    context: dict[str, Any] = {
        "organization": {"name": "Northwind"},
        "vendor": {"name": "Acme"},
        "missing": [],
        "next_expiration": None,
        "expired_since": None,
    }
    values = rendered_values(delivery, context, settings=get_settings())
    assert "automated call from Northwind" in values["body_text"]
    assert values["content"]["render"]["pending"] is False


@pytest.fixture
def fax() -> Iterator[ChannelSpec]:
    """A channel added the way a package adds one: a spec naming its sender, rows, templates,
    window, failure outcome, opt-out and addresses (here reusing the SMS templates)."""
    spec = ChannelSpec(
        name="fax",
        sender=channel_spec("call_task").sender,
        template="sms/{}.txt",
        plan_row=text_row,
        render=render_text_row,
        window="business_days",
        find_address=phone_address(None, ""),
        failure_outcome="call_failed",
    )
    saved = dict(registry._SPECS)
    register_channel(spec)
    yield spec
    registry._SPECS.clear()
    registry._SPECS.update(saved)


FAX = """\
name: faxes
trigger: expiring
steps:
  - id: send_fax
    channel: fax
    to: [vendor, agent]
    template: renewal_reminder
    offset_days: -30
"""


def test_a_new_channel_is_one_spec_plus_its_templates(fax: ChannelSpec, tmp_path: Path) -> None:
    path = tmp_path / "faxes.yaml"
    path.write_text(FAX)
    wf = load_workflow(path)
    path.write_text(FAX.replace("renewal_reminder", "no_such_text"))
    with pytest.raises(Exception, match="no fax template 'no_such_text'"):
        load_workflow(path)
    case = case_row()
    data = batch(case)
    data.workflows[case.id] = wf
    saturday = datetime(2026, 12, 19, 15, 0, tzinfo=UTC)
    plan = plan_case(
        case, data, now=datetime(2026, 12, 16, 14, 0, tzinfo=UTC), settings=get_settings()
    )
    assert [(r.planned.new.channel, r.planned.new.recipient) for r in plan.rows] == [
        ("fax", "+12125550142"),
        ("fax", "+12125550199"),
    ]
    content = plan.rows[0].planned.new.content
    assert content is not None and content["template_path"] == "sms/renewal_reminder.txt"
    # its window: business days in the organization's zone
    moved = next_allowed("fax", saturday, tz_names=["UTC"], settings=get_settings())
    assert moved.astimezone(get_settings().zone).date() == date(2026, 12, 21)
