"""What the engine reads of vendors, agents and cases, as protocols, and the plain records the
bulk planner loads instead of ORM objects (a `Vendor`, `Agent` or `Case` row fits too); and
what timing and the outcome actions read of a workflow's steps and rules (the models of
`workflows.definitions` fit, which check their action names against those actions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from typing import Any, NamedTuple, Protocol

from comms.channel_spec import Contact


class VendorLike(Contact, Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def agent_id(self) -> int | None: ...
    @property
    def profile_id(self) -> int | None: ...
    @property
    def opt_out_email(self) -> bool: ...
    @property
    def opt_out_sms(self) -> bool: ...
    @property
    def opt_out_call(self) -> bool: ...
    @property
    def active(self) -> bool: ...


class AgentLike(Contact, Protocol):
    @property
    def id(self) -> int | None: ...


class CaseLike(Protocol):
    """The case fields that timing reads and scheduling writes."""

    trigger_date: date | None
    step_index: int
    next_action_at: datetime | None
    snoozed_until: datetime | None
    data: dict[str, Any]


class DelayLike(Protocol):
    @property
    def amount(self) -> int: ...
    @property
    def unit(self) -> str: ...


class StepLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def to(self) -> Sequence[str]: ...
    @property
    def offset_days(self) -> int | None: ...
    @property
    def delay_spec(self) -> DelayLike | None: ...
    @property
    def catch_up(self) -> bool: ...


class WorkflowLike(Protocol):
    @property
    def steps(self) -> Sequence[StepLike]: ...
    @property
    def send_at(self) -> time: ...


class RuleLike(Protocol):
    @property
    def business_days(self) -> int: ...
    @property
    def limit(self) -> int: ...


class VendorRow(NamedTuple):
    id: int
    name: str
    email: str | None
    phone: str | None
    timezone: str | None
    agent_id: int | None
    profile_id: int | None
    opt_out_email: bool
    opt_out_sms: bool
    opt_out_call: bool
    email_invalid: bool
    phone_invalid: bool
    active: bool


VENDOR_COLUMNS = VendorRow._fields


class AgentRow(NamedTuple):
    id: int
    email: str | None
    phone: str | None
    email_invalid: bool
    phone_invalid: bool


AGENT_COLUMNS = AgentRow._fields


@dataclass(slots=True)
class CaseRow:
    """A claimed case, changed in memory by the planner and written back in one statement."""

    id: int
    vendor_id: int
    trigger: str
    workflow: str
    campaign_id: int
    state: str
    step_index: int
    trigger_date: date | None
    next_action_at: datetime | None
    snoozed_until: datetime | None
    step_attempts: int
    last_outcome: str | None
    data: dict[str, Any]
    updated_at: datetime
    resolved_at: datetime | None


CASE_COLUMNS = tuple(f.name for f in fields(CaseRow))
# what planning may change, so what is written back
CASE_CHANGES = (
    "state",
    "step_index",
    "next_action_at",
    "snoozed_until",
    "step_attempts",
    "data",
    "updated_at",
    "resolved_at",
)
