"""Escalation ladders as data: `config/workflows/*.yaml`, validated on load.

Errors name the file, the line and the field (`comms.yamlload`). A ladder is a list of steps;
each step names its channel, recipients, template, timing (an `offset_days` from the trigger
date or a `delay` after the previous step), conditions, and what each outcome does. Channel
names come from the registered channels (`comms.channel_spec`) and a step's template must
exist under its channel's pattern when the file loads; action names come from the table of
outcome actions (`workflows.outcome_actions`).
"""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from comms.channel_spec import channel_names, channel_spec
from comms.yamlload import DataFileError, validate_file
from workflows.outcome_actions import ACTIONS

RecipientKind = Literal["vendor", "agent", "client"]
Condition = Literal[
    "has_phone",
    "has_email",
    "has_agent",
    "has_agent_email",
    "has_agent_phone",
    "last_email_bounced",
    "last_sms_failed",
    "no_reply",
]
OutcomeName = Literal[
    "renewal_on_way",
    "promised",
    "reached",
    "voicemail_left",
    "no_answer",
    "busy",
    "call_failed",
    "wrong_number",
    "resolved",
    "sms_failed",
    "email_bounced",
    "opted_out",
]
CHECK_TEMPLATES = "check_templates"  # validation context: the step templates must exist
_DELAY = re.compile(r"^\s*(\d+)\s+(business\s+days?|days?|hours?)\s*$", re.IGNORECASE)
ROOT = Path(__file__).resolve().parent.parent / "config" / "workflows"


class Delay(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: int
    unit: Literal["business_days", "days", "hours"]


@lru_cache(maxsize=256)
def parse_delay(text: str) -> Delay:
    match = _DELAY.match(text)
    if not match:
        raise ValueError(
            f"not a delay: {text!r} (expected e.g. '3 business days', '2 days', '4 hours')"
        )
    unit = match.group(2).lower()
    name = (
        "business_days"
        if unit.startswith("business")
        else "days"
        if unit.startswith("day")
        else "hours"
    )
    return Delay(amount=int(match.group(1)), unit=name)


class OutcomeRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str  # a name in `workflows.outcome_actions.ACTIONS`
    business_days: int = Field(default=1, ge=0, le=60)
    limit: int = Field(default=3, ge=1, le=10)

    @field_validator("action")
    @classmethod
    def _known_action(cls, value: str) -> str:
        if value not in ACTIONS:
            raise ValueError(f"unknown action {value!r} (one of: {', '.join(ACTIONS)})")
        return value


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$", max_length=40)
    channel: str
    to: list[RecipientKind] = Field(min_length=1)
    template: str = Field(pattern=r"^[a-z0-9_]+$")
    offset_days: int | None = Field(default=None, ge=-365, le=365)
    delay: str | None = None
    when: list[Condition] = Field(default_factory=list)
    outcomes: dict[OutcomeName, OutcomeRule] = Field(default_factory=dict)
    # a case that opens after this step's time still starts here, at once, when no later
    # catch-up step's time has come: a ladder opened late starts in writing, not on the phone
    catch_up: bool = False

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str) -> str:
        names = channel_names()
        if value not in names:
            raise ValueError(f"unknown channel {value!r} (one of: {', '.join(names)})")
        return value

    @field_validator("template")
    @classmethod
    def _template_exists(cls, value: str, info: ValidationInfo) -> str:
        """When a workflow file loads (`CHECK_TEMPLATES` in the context), the template must
        exist under the step's channel's pattern."""
        context = info.context or {}
        if context.get(CHECK_TEMPLATES) and "channel" in info.data:
            spec = channel_spec(info.data["channel"])
            if not spec.has_template(value):
                raise ValueError(
                    f"no {spec.name} template {value!r} (templates/{spec.template_path(value)})"
                )
        return value

    @field_validator("delay")
    @classmethod
    def _check_delay(cls, value: str | None) -> str | None:
        if value is not None:
            parse_delay(value)
        return value

    @model_validator(mode="after")
    def _one_timing(self) -> Step:
        if (self.offset_days is None) == (self.delay is None):
            raise ValueError("a step needs exactly one of offset_days or delay")
        return self

    @property
    def delay_spec(self) -> Delay | None:
        return parse_delay(self.delay) if self.delay else None


class Workflow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str = ""
    trigger: Literal["expiring", "deficient", "missing", "campaign"]
    horizon_days: int = Field(default=30, ge=0, le=365)
    send_at: time = time(9, 0)
    outcomes: dict[OutcomeName, OutcomeRule] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_steps(self) -> Workflow:
        seen: set[str] = set()
        previous: int | None = None
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"duplicate step id {step.id!r}")
            seen.add(step.id)
            if step.offset_days is not None:
                if previous is not None and step.offset_days < previous:
                    raise ValueError(f"step {step.id!r}: offset_days must not go backwards")
                previous = step.offset_days
        return self

    def rule_for(self, step: Step, outcome: str) -> OutcomeRule | None:
        return step.outcomes.get(outcome) or self.outcomes.get(outcome)  # type: ignore[call-overload]

    def step_index(self, step_id: str) -> int:
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise KeyError(step_id)


def load_workflow(path: Path) -> Workflow:
    wf = validate_file(Workflow, path, context={CHECK_TEMPLATES: True})
    if wf.name != path.stem:
        raise DataFileError(str(path), 1, "name", f"must match the file name {path.stem!r}")
    return wf


@lru_cache(maxsize=8)
def _load_dir(folder: str) -> dict[str, Workflow]:
    found: dict[str, Workflow] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        wf = load_workflow(path)
        found[wf.name] = wf
    return found


def load_workflows(folder: Path | None = None) -> dict[str, Workflow]:
    """Every workflow in `folder` (default: the repo's config/workflows), by name."""
    return _load_dir(str(folder or ROOT))


def get_workflow(name: str, folder: Path | None = None) -> Workflow:
    workflows = load_workflows(folder)
    try:
        return workflows[name]
    except KeyError:
        raise LookupError(f"no workflow named {name!r} in {folder or ROOT}") from None


def clear_cache() -> None:
    _load_dir.cache_clear()
