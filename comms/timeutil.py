"""Time helpers. Every datetime in this project is timezone-aware; "now" is always a parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo


def utcnow() -> datetime:
    """The current time, aware, in UTC. Only entry points call this; domain code takes `now`."""
    return datetime.now(UTC)


def ensure_aware(value: datetime) -> datetime:
    """Treat a naive datetime as UTC and convert an aware one to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_now(text: str | None, zone: tzinfo | None = None) -> datetime:
    """Parse a `--now` argument (ISO 8601, date or datetime); None means the real clock. A
    value without an offset (`2026-06-01`, `2026-06-01T09:00`) is a time in `zone`, the
    organization's, as staff read their calendar (UTC when no zone is given)."""
    if not text:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"--now: not an ISO 8601 date or datetime: {text!r}") from exc
    if parsed.tzinfo is None and zone is not None:
        parsed = parsed.replace(tzinfo=zone)
    return ensure_aware(parsed)


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {text!r}") from exc
