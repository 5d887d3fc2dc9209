"""Each vendor's stored verdict, and the history of its changes.

`VendorVerdict` is the verdict of `comms.compliance.evaluate` for the vendor, kept current by
`comms.stored_verdicts` in the same transaction as any change to its inputs; `changes_on` is the
first day it can change with no new input (the daily roll reads it through its index).
`VerdictChange` is one row per change of a vendor's stored status (the timeline, the trend).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from comms.models.base import created_field, json_field


class VendorVerdict(SQLModel, table=True):
    __tablename__ = "vendor_verdict"
    __table_args__ = (
        Index("ix_vendor_verdict_changes_on", "changes_on"),
        Index("ix_vendor_verdict_computed_for", "computed_for"),
        Index("ix_vendor_verdict_status", "status"),
        Index("ix_vendor_verdict_profile_status", "profile_id", "status"),
        Index("ix_vendor_verdict_next_expiration", "next_expiration"),
        Index("ix_vendor_verdict_worst", "severity", "next_expiration", "vendor_id"),
    )

    vendor_id: int = Field(primary_key=True, foreign_key="vendor.id")
    profile_id: int | None = None  # the vendor's, copied: counts by profile read this table
    status: str
    severity: int  # 0 the worst (missing) … 4 compliant: the "needs attention" order
    unreachable: bool = False  # no email, no phone and no agent with either
    flags: list[str] = json_field(default_factory=list)  # unreachable, waived
    deficiencies: list[dict[str, Any]] = json_field(default_factory=list)
    next_expiration: date | None = None
    expired_since: date | None = None
    covered: list[str] = json_field(default_factory=list)
    waived: list[dict[str, Any]] = json_field(default_factory=list)  # set aside by a waiver
    waivers: list[int] = json_field(default_factory=list)  # the waivers that applied
    computed_for: date
    changes_on: date | None = None  # None: nothing changes it but new input
    updated_at: datetime = created_field()


class VerdictChange(SQLModel, table=True):
    """A vendor's stored status changed (old_status None: its first verdict)."""

    __tablename__ = "verdict_change"
    __table_args__ = (
        Index("ix_verdict_change_vendor_at", "vendor_id", "at"),
        Index("ix_verdict_change_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    vendor_id: int = Field(foreign_key="vendor.id")
    at: datetime = created_field()
    day: date
    old_status: str | None = None
    new_status: str
    reason: str = ""


class VerdictCount(SQLModel, table=True):
    """How many active vendors of a profile (0: none) have a status, kept with the stored
    verdicts (the counts read this, never the verdict rows)."""

    __tablename__ = "verdict_count"

    profile_key: int = Field(primary_key=True)  # the profile id, 0 for none
    status: str = Field(primary_key=True)
    n: int = 0
