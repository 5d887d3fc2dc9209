"""Escalation cases and their history."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from comms.models.base import created_field, json_field, ts_field


class CaseState(enum.StrEnum):
    ACTIVE = "active"
    WAITING = "waiting"
    PAUSED = "paused"
    RESOLVED = "resolved"
    EXHAUSTED = "exhausted"


OPEN_STATES = (CaseState.ACTIVE.value, CaseState.WAITING.value, CaseState.PAUSED.value)
_DUE_SQL = "next_action_at IS NOT NULL"
FAILURE_KINDS = ("delivery_bounced", "delivery_failed")  # what `comms.outbox` records


def _among(column: str, values: tuple[str, ...]) -> str:
    """A partial index's `column IN ('a', 'b')` condition over fixed values."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_OPEN_SQL = _among("state", OPEN_STATES)
_FAILURE_SQL = _among("kind", FAILURE_KINDS)


class Case(SQLModel, table=True):
    """One escalation of one vendor for one trigger (expiring, deficient, missing, campaign)."""

    __tablename__ = "case"
    __table_args__ = (
        # never two open cases of one trigger for one vendor
        Index(
            "uq_case_open_vendor_trigger",
            "vendor_id",
            "trigger",
            "campaign_id",
            unique=True,
            sqlite_where=text(_OPEN_SQL),
            postgresql_where=text(_OPEN_SQL),
        ),
        # the claim's order (due time, then id) read straight off the index, so a batch stops
        # after its rows even when thousands share one due time; closed and paused cases
        # (no next action) are not in it
        Index(
            "ix_case_due",
            "next_action_at",
            "id",
            sqlite_where=text(_DUE_SQL),
            postgresql_where=text(_DUE_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    vendor_id: int = Field(foreign_key="vendor.id", index=True)
    trigger: str
    workflow: str
    campaign_id: int = Field(default=0)  # 0: not a campaign (NULLs would defeat the unique index)
    state: str = Field(default=CaseState.ACTIVE.value, index=True)
    step_index: int = 0
    trigger_date: date | None = None
    next_action_at: datetime | None = ts_field()
    snoozed_until: datetime | None = ts_field()
    paused_state: str | None = None
    step_attempts: int = 0
    last_outcome: str | None = None
    data: dict[str, Any] = json_field()
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    resolved_at: datetime | None = ts_field()


class CaseEvent(SQLModel, table=True):
    """A transition or notable event on a case: the case timeline."""

    __tablename__ = "case_event"
    __table_args__ = (
        # the delivery failures a case has still to absorb, looked up for every claimed case:
        # a small index instead of each case's whole timeline
        Index(
            "ix_case_event_failures",
            "case_id",
            "id",
            sqlite_where=text(_FAILURE_SQL),
            postgresql_where=text(_FAILURE_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    at: datetime = created_field()
    kind: str
    from_state: str | None = None
    to_state: str | None = None
    step: str | None = None
    reason: str = ""
    data: dict[str, Any] = json_field()
