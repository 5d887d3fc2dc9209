from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from comms.timeutil import parse_now

NY = ZoneInfo("America/New_York")


def test_a_now_without_offset_is_read_in_the_organizations_zone() -> None:
    assert parse_now("2026-06-01", NY) == datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
    assert parse_now("2026-01-15T09:30", NY) == datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
    assert parse_now("2026-06-01T12:00:00+02:00", NY) == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert parse_now("2026-06-01T12:00:00Z", NY) == datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert parse_now("2026-06-01") == datetime(2026, 6, 1, tzinfo=UTC)  # no zone given: UTC
    assert parse_now("2026-06-01", NY).tzinfo is UTC


def test_a_bad_now_names_the_option() -> None:
    with pytest.raises(ValueError, match="--now: not an ISO 8601"):
        parse_now("tomorrow", NY)
