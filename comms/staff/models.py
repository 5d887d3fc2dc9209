"""The staff tables: accounts and their server-side sign-in sessions."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlmodel import Field, SQLModel

from comms.models.base import created_field, ts_field
from comms.models.types import UTCDateTime


class Role(enum.StrEnum):
    COMPLIANCE = "compliance"  # reviews certificates, grants waivers, manages cases
    CALLER = "caller"  # works call tasks
    ADMIN = "admin"  # manages staff (and may do what compliance does)


class Staff(SQLModel, table=True):
    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    role: str
    password_hash: str
    disabled: bool = False
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    password_changed_at: datetime = created_field()


class StaffSession(SQLModel, table=True):
    """One signed-in browser. The cookie carries a random token; only its sha256 is stored,
    so a copy of the table signs no one in. Revoked by setting `revoked_at`."""

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    token_sha256: str = Field(unique=True)
    csrf_token: str
    address: str | None = None
    created_at: datetime = created_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime = created_field()
    revoked_at: datetime | None = ts_field()


class StaffApiToken(SQLModel, table=True):
    """A per-staff bearer token for the staff JSON API, created and revoked in the workspace.
    Only its sha256 is stored; the token is shown once, when it is made."""

    __tablename__ = "staff_api_token"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    label: str
    token_sha256: str = Field(unique=True)
    created_at: datetime = created_field()
    last_used_at: datetime | None = ts_field()
    revoked_at: datetime | None = ts_field()
