"""Turning a planned step into outbox rows, one per recipient, through the step's channel.

`recipient_for` asks the channel for a recipient role's address, and `plan_delivery` asks it
for the row of one step to one recipient, without touching the database; the planner
(`workflows.planner`) puts the row on a plan, and an applier writes it. Content is rendered
when the row is first sent, not here (`comms.deferred`, by the channel's renderer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from comms.channel_spec import ChannelSpec, Recipient, RowRequest, channel_spec
from comms.outbox import NewDelivery
from comms.settings import Settings
from workflows.definitions import Step
from workflows.records import AgentLike, CaseRow, VendorLike

__all__ = ["PlannedDelivery", "Recipient", "idempotency_key", "plan_delivery", "recipient_for"]


@dataclass(frozen=True)
class PlannedDelivery:
    new: NewDelivery
    skip_reason: str | None = None  # why the row cannot be sent (`SKIP_ERRORS`), or None


def idempotency_key(
    case_id: int, step_id: str, kind: str, attempt: int = 0, ladder: int = 0
) -> str:
    """One row per case, step, recipient and attempt; `ladder` counts the times the case took
    another trigger's ladder (`workflows.lifecycle.join_case`), whose steps may share ids."""
    base = (
        f"case-{case_id}-{step_id}-{kind}"
        if not ladder
        else f"case-{case_id}-l{ladder}-{step_id}-{kind}"
    )
    return f"{base}-a{attempt}" if attempt else base


def recipient_for(
    kind: str, channel: str, vendor: VendorLike, agent: AgentLike | None, settings: Settings
) -> Recipient:
    """The address of one recipient on one channel, or why there is none."""
    return channel_spec(channel).find_address(kind, vendor, agent, settings)


def plan_delivery(
    spec: ChannelSpec,
    case: CaseRow,
    step: Step,
    vendor: VendorLike,
    agent: AgentLike | None,
    recipient: Recipient,
    *,
    now: datetime,
    settings: Settings,
) -> PlannedDelivery:
    """The outbox row of the case's `step` (on channel `spec`) for one recipient, not yet
    created, at the case's current attempt of the step."""
    assert recipient.address is not None
    ladder = int(case.data.get("ladder", 0))
    key = idempotency_key(case.id, step.id, recipient.kind, case.step_attempts, ladder)
    request = RowRequest(
        idempotency_key=key,
        workflow=case.workflow,
        step=step.id,
        template=step.template,
        attempt=case.step_attempts,
        vendor=vendor,
        agent=agent,
        recipient=recipient,
        case_id=case.id,
        now=now,
        settings=settings,
    )
    return PlannedDelivery(*spec.plan_row(spec, request))
