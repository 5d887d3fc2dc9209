"""Requirement profiles, insurance agents and vendors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, func
from sqlmodel import Field, SQLModel

from comms.models.base import created_field, json_field


class RequirementProfile(SQLModel, table=True):
    __tablename__ = "requirement_profile"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    expiring_within_days: int = 30
    spec: dict[str, Any] = json_field()
    source_path: str | None = None
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class Project(SQLModel, table=True):
    """A project vendors work on: what agents print on their certificates for it."""

    __tablename__ = "project"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    spec: dict[str, Any] = json_field()
    source_path: str | None = None
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class Agent(SQLModel, table=True):
    """An insurance agent (producer) who issues a vendor's certificates."""

    __tablename__ = "agent"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    agency: str | None = None
    email: str | None = Field(default=None, index=True)
    phone: str | None = Field(default=None, index=True)
    email_invalid: bool = False
    phone_invalid: bool = False
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class Vendor(SQLModel, table=True):
    """A contractor or vendor who must keep a valid certificate on file."""

    __tablename__ = "vendor"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    contact_name: str | None = None
    email: str | None = Field(default=None, index=True)
    phone: str | None = Field(default=None, index=True)  # E.164
    timezone: str | None = None
    language: str = "en"
    vendor_code: str | None = Field(default=None, unique=True)  # keypad ID for the IVR line
    profile_id: int | None = Field(default=None, foreign_key="requirement_profile.id", index=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)
    project: str | None = Field(default=None, index=True)  # a Project's name (config/projects)
    opt_out_email: bool = False
    opt_out_sms: bool = False
    opt_out_call: bool = False
    email_invalid: bool = False  # flagged for staff after a permanent bounce
    phone_invalid: bool = False
    active: bool = True
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


# vendor search by name: a prefix of the lower-cased name is a range of this index
Index("ix_vendor_name_lower", func.lower(Vendor.__table__.c.name))  # type: ignore[attr-defined]
