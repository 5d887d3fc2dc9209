"""Tables of the telephony package: call-center tasks, processed webhooks, SMS opt-outs and
the log of inbound calls and texts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from comms.models.base import created_field, json_field, ts_field


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"  # reserved for `claimed_by` until `reserved_until`
    WRAPPING = "wrapping"  # called: stays with `claimed_by` until a disposition is saved
    DONE = "done"


class CallTask(SQLModel, table=True):
    """A scripted call for call-center staff: whom to call, the script, when and how urgent."""

    __tablename__ = "call_task"
    __table_args__ = (Index("ix_call_task_queue", "status", "priority", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    vendor_id: int | None = Field(default=None, foreign_key="vendor.id", index=True)
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id", unique=True)
    target_kind: str = "vendor"  # agent | vendor
    target_name: str = ""
    phone: str | None = None
    reason: str = ""  # workflow step, ivr_person, voicemail, reminder_call_person
    script: str = Field(default="", sa_type=Text)
    priority: int = 3  # 1 urgent … 5 low
    due_at: datetime | None = ts_field(index=True)
    status: str = Field(default=TaskStatus.OPEN.value, index=True)
    claimed_by: str | None = None
    claimed_at: datetime | None = ts_field()
    reserved_until: datetime | None = ts_field()
    # one call covers everything due to one person: each vendor (and case, delivery, reason)
    # the call is about, and its outcome once recorded (`telephony.task_items`)
    items: list[dict[str, Any]] = json_field(default_factory=list)
    completed_at: datetime | None = ts_field()
    outcome: str | None = None
    outcome_data: dict[str, Any] = json_field()
    recording_url: str | None = None
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class WebhookEvent(SQLModel, table=True):
    """One Twilio callback, stored raw before processing; unique on (sid, status)."""

    __tablename__ = "webhook_event"
    __table_args__ = (UniqueConstraint("sid", "status", name="uq_webhook_event_sid_status"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # a `telephony.callbacks.Kind`: sms_status, voice_status, amd, sms_inbound, …
    sid: str
    status: str
    payload: dict[str, Any] = json_field()
    received_at: datetime = created_field()
    processed_at: datetime | None = ts_field()
    error: str | None = None
    error_code: str | None = None  # a `comms.failures` code: why, for a program
    error_permanent: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class SmsOptOut(SQLModel, table=True):
    """Our mirror of the carrier's STOP list: no SMS goes to `phone` while `active`."""

    __tablename__ = "sms_opt_out"

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(unique=True)
    active: bool = True
    keyword: str = ""
    opted_out_at: datetime = created_field()
    opted_in_at: datetime | None = ts_field()


class InboundMessage(SQLModel, table=True):
    """Log of inbound texts and calls (raw parameters kept)."""

    __tablename__ = "inbound_telephony"

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # sms | call | voicemail
    sid: str = Field(index=True)
    from_number: str = ""
    to_number: str = ""
    body: str | None = Field(default=None, sa_type=Text)
    vendor_id: int | None = Field(default=None, foreign_key="vendor.id", index=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    action: str = ""
    payload: dict[str, Any] = json_field()
    received_at: datetime = created_field()
