"""Tables of the workflows package: outreach campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from comms.models.base import created_field, json_field, ts_field


class Campaign(SQLModel, table=True):
    """One-off or periodic outreach to a segment of vendors, through the same outbox."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    channel: str = "email"
    template: str
    recipients: list[str] = json_field()  # vendor, agent, client
    segment: dict[str, Any] = json_field()  # profile, status, expiring_within
    every_days: int | None = None  # None: one-off
    max_per_run: int | None = None
    stop_when_compliant: bool = True
    state: str = Field(default="active", index=True)  # active, stopped, done
    runs: int = 0
    created_at: datetime = created_field()
    last_run_at: datetime | None = ts_field()
    next_run_at: datetime | None = ts_field()
