"""Shared column helpers for the SQLModel tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field

from comms.models.types import UTCDateTime


def _now() -> datetime:
    return datetime.now(UTC)


def created_field() -> Any:
    return Field(default_factory=_now, sa_type=UTCDateTime, nullable=False)


def ts_field(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


def json_field(*, default_factory: Any = dict) -> Any:
    return Field(default_factory=default_factory, sa_type=JSON, nullable=False)
