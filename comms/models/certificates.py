"""Certificates of insurance and the policies they list."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from comms.models.base import created_field, json_field


class CertificateStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    NEEDS_REVIEW = "needs_review"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class CertificateSource(enum.StrEnum):
    ROSTER = "roster"
    EMAIL = "email"
    UPLOAD = "upload"
    MANUAL = "manual"


class Certificate(SQLModel, table=True):
    __tablename__ = "certificate"

    id: int | None = Field(default=None, primary_key=True)
    vendor_id: int = Field(foreign_key="vendor.id", index=True)
    source: str = CertificateSource.ROSTER.value
    reference: str | None = None  # roster file name, message id, upload name
    document_path: str | None = None  # content-addressed path under the documents folder
    document_sha256: str | None = Field(default=None, index=True)
    received_at: datetime = created_field()
    status: str = Field(default=CertificateStatus.ACCEPTED.value, index=True)
    inbound_message_id: int | None = Field(default=None, index=True)
    extraction: dict[str, Any] = json_field()
    doubtful_fields: list[str] = json_field(default_factory=list)
    created_at: datetime = created_field()


class Policy(SQLModel, table=True):
    __tablename__ = "policy"
    __table_args__ = (Index("ix_policy_vendor_coverage", "vendor_id", "coverage"),)

    id: int | None = Field(default=None, primary_key=True)
    certificate_id: int = Field(foreign_key="certificate.id", index=True)
    vendor_id: int = Field(foreign_key="vendor.id")
    coverage: str
    label: str | None = None  # for coverage "other"
    insurer_letter: str | None = None
    insurer: str | None = None
    naic: str | None = None
    policy_number: str | None = None
    effective_date: date | None = None
    expiration_date: date | None = Field(default=None, index=True)
    limits: dict[str, int] = json_field()
    additional_insured: bool | None = None
    subrogation_waived: bool | None = None
    occurrence: bool | None = None  # True occurrence, False claims-made, None not stated
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
