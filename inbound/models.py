"""Tables of the inbound package: every message's raw bytes, stored before parsing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from comms.models.base import created_field, json_field, ts_field


class InboundMessage(SQLModel, table=True):
    """One received message, raw first; ``dedupe_key`` makes a second store a no-op."""

    __tablename__ = "inbound_message"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, index=True)
    source: str
    uidvalidity: int | None = None
    uid: int | None = None
    message_id: str | None = Field(default=None, index=True)
    raw_sha256: str
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default="stored", index=True)  # stored|processing|processed|quarantined
    classification: str | None = None
    quarantine_reason: str | None = None
    vendor_id: int | None = Field(default=None, foreign_key="vendor.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    reply_text: str | None = None
    result: dict[str, Any] = json_field()
    received_at: datetime = created_field()
    processed_at: datetime | None = ts_field()
