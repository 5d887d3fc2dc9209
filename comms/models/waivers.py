"""Waivers: a requirement set aside for one vendor, with a reason, who granted it and until
when (`expires_on`; None is permanent)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from comms.models.base import created_field, ts_field


class Waiver(SQLModel, table=True):
    __tablename__ = "waiver"

    id: int | None = Field(default=None, primary_key=True)
    vendor_id: int = Field(foreign_key="vendor.id", index=True)
    coverage: str = ""  # "" with code no_certificate: the certificate itself
    code: str  # the deficiency code waived, or "*" for every rule of the coverage
    limit: str = ""  # for limit_below_minimum: one limit ("" = every limit)
    reason: str
    granted_by: str
    granted_at: datetime = created_field()
    starts_on: date
    expires_on: date | None = Field(default=None, index=True)  # first day it no longer applies
    revoked_at: datetime | None = ts_field()
    revoked_by: str | None = None
    revoked_on: date | None = None
    # "vendor:coverage:code:limit" while the waiver is live, NULL once revoked or replaced:
    # the unique constraint lets only one of two concurrent identical grants in
    live_key: str | None = Field(default=None, unique=True)
