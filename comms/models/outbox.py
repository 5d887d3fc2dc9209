"""The outbox: one delivery row per outgoing message of any channel, and suppressions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from comms.models.base import created_field, json_field, ts_field


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    SKIPPED = "skipped"


FINAL_STATUSES = frozenset({"sent", "delivered", "failed", "bounced", "skipped"})


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    # Every index here is written for each planned row (a tick plans thousands). The ids a
    # provider or the SMTP send assigns are NULL until then and only looked up by value
    # (`=`, `IN`, which imply NOT NULL), so their indexes are partial. The channel (a name
    # in `comms.channel_spec`, a few values) is only ever filtered next to a case, a
    # Message-ID or a status, whose own indexes narrow the rows: it has none.
    __table_args__ = (
        Index("ix_delivery_status_lease", "status", "lease_until"),
        Index(
            "ix_delivery_provider_message_id",
            "provider_message_id",
            sqlite_where=text("provider_message_id IS NOT NULL"),
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
        Index(
            "ix_delivery_message_id",
            "message_id",
            sqlite_where=text("message_id IS NOT NULL"),
            postgresql_where=text("message_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True)
    channel: str
    recipient: str
    recipient_kind: str = "vendor"  # vendor, agent, client
    vendor_id: int | None = Field(default=None, foreign_key="vendor.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    step: str | None = None
    template: str
    subject: str | None = None
    body_text: str | None = Field(default=None, sa_type=Text)
    body_html: str | None = Field(default=None, sa_type=Text)
    content: dict[str, Any] = json_field()
    status: str = Field(default=DeliveryStatus.QUEUED.value)
    attempts: int = 0
    provider_message_id: str | None = None
    message_id: str | None = None  # RFC 5322 Message-ID
    reply_token: str | None = None
    in_reply_to: str | None = None
    error: str | None = None
    error_code: str | None = None
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    sent_at: datetime | None = ts_field()
    lease_until: datetime | None = ts_field()  # wall clock, renewed while a worker holds it
    enqueued_at: datetime | None = ts_field()  # wall clock: when the sweep last enqueued it
    next_attempt_at: datetime | None = ts_field()


class Suppression(SQLModel, table=True):
    """An address or number that must not be contacted on a channel until staff clear it."""

    __tablename__ = "suppression"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_suppression_address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    address: str
    reason: str
    source: str | None = None
    created_at: datetime = created_field()
    cleared_at: datetime | None = ts_field()
    cleared_by: str | None = None
