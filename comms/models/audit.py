"""The audit log: who did what to which record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, Session, SQLModel

from comms.models.base import created_field, json_field


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    # a record's history (the vendor timeline reads it), newest first
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = created_field()
    actor: str = "system"
    action: str
    entity: str
    entity_id: int | None = None
    data: dict[str, Any] = json_field()


def audit(
    session: Session,
    *,
    action: str,
    entity: str,
    entity_id: int | None = None,
    actor: str = "system",
    at: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> AuditLog:
    row = AuditLog(action=action, entity=entity, entity_id=entity_id, actor=actor, data=data or {})
    if at is not None:
        row.at = at
    session.add(row)
    return row
