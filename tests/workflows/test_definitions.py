"""Workflow definitions: the shipped ones load; bad ones name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from comms.yamlload import DataFileError
from workflows.definitions import OutcomeRule, load_workflow, load_workflows, parse_delay
from workflows.outcome_actions import ACTIONS

GOOD = """\
name: {name}
trigger: deficient
steps:
  - id: first
    channel: email
    to: [agent]
    template: deficiency_notice
    delay: 0 days
"""


def test_shipped_definitions_load() -> None:
    wfs = load_workflows()
    assert set(wfs) == {"expiring", "deficient", "missing"}
    offsets = [s.offset_days for s in wfs["expiring"].steps]
    assert offsets == [-30, -21, -14, -7, -3, 0, 7]
    assert [s.channel for s in wfs["expiring"].steps] == [
        "email",
        "email",
        "sms",
        "call",
        "call_task",
        "email",
        "call_task",
    ]
    assert wfs["expiring"].outcomes["renewal_on_way"].business_days == 3
    assert wfs["deficient"].steps[1].delay == "3 business days"


@pytest.mark.parametrize(
    ("edit", "line", "field"),
    [
        (("channel: email", "channel: fax"), 5, "steps.0.channel"),
        (("delay: 0 days", "delay: soon"), 8, "steps.0.delay"),
        (("to: [agent]", "to: [landlord]"), 6, "steps.0.to.0"),
        (("    delay: 0 days\n", "    delay: 0 days\n    offset_days: 3\n"), 4, "steps.0"),
        (("template: deficiency_notice", "template: deficiency_notise"), 7, "steps.0.template"),
        (
            (
                "    delay: 0 days\n",
                "    delay: 0 days\n    outcomes:\n      busy: {action: dance}\n",
            ),
            10,
            "steps.0.outcomes.busy.action",
        ),
    ],
)
def test_bad_definition_names_file_line_field(
    tmp_path: Path, edit: tuple[str, str], line: int, field: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.format(name="bad").replace(*edit))
    with pytest.raises(DataFileError) as err:
        load_workflow(path)
    assert err.value.path == str(path)
    assert err.value.line == line
    assert err.value.field == field


def test_name_must_match_file(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(GOOD.format(name="bad"))
    with pytest.raises(DataFileError, match=r"other\.yaml:1: name"):
        load_workflow(path)


def test_delays() -> None:
    assert parse_delay("3 business days").unit == "business_days"
    assert parse_delay("1 day").amount == 1
    with pytest.raises(ValueError):
        parse_delay("three days")


CALL = """\
name: calls
trigger: expiring
steps:
  - id: ring
    channel: call
    to: [vendor]
    template: {template}
    offset_days: -7
"""


def test_a_call_step_names_a_voice_prompt_or_the_file_does_not_load(tmp_path: Path) -> None:
    """The prompts live under templates/voice/<language>/: a call step's template is one of
    them (it was silently ignored when the name matched nothing)."""
    path = tmp_path / "calls.yaml"
    path.write_text(CALL.format(template="renewal_reminder"))  # an SMS template, no prompt
    with pytest.raises(DataFileError) as err:
        load_workflow(path)
    assert (err.value.line, err.value.field) == (7, "steps.0.template")
    assert "templates/voice/en/renewal_reminder.txt" in err.value.message
    path.write_text(CALL.format(template="reminder_intro"))
    assert load_workflow(path).steps[0].template == "reminder_intro"


def test_the_schema_takes_its_action_names_from_the_table() -> None:
    for name in ACTIONS:
        assert OutcomeRule(action=name).action == name
    with pytest.raises(ValueError, match="unknown action 'dance'"):
        OutcomeRule(action="dance")
