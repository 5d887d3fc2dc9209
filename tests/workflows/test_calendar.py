"""Calendar: quiet hours in every recipient zone, business days, DST gaps and folds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from comms.settings import load_settings
from workflows.calendar import (
    add_business_days,
    next_allowed,
    phone_zones,
    within_quiet_hours,
)

ZONES = sorted(
    z for z in available_timezones() if "/" in z and not z.startswith(("Etc", "SystemV"))
)
DST_EDGES = [
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),  # US spring forward
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),  # US fall back
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # EU spring forward
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),  # EU fall back
    datetime(2026, 4, 5, 16, 0, tzinfo=UTC),  # Australia/Lord_Howe half-hour shift
    datetime(2026, 10, 4, 16, 0, tzinfo=UTC),
]


@hsettings(max_examples=400, deadline=None)
@given(
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3),
    edge=st.sampled_from(DST_EDGES),
    offset_minutes=st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60),
    channel=st.sampled_from(["sms", "call"]),
    window=st.sampled_from([(time(8), time(21)), (time(2, 30), time(21)), (time(0), time(1, 30))]),
)
def test_no_phone_step_planned_outside_its_window(
    zones: list[str],
    edge: datetime,
    offset_minutes: int,
    channel: str,
    window: tuple[time, time],
) -> None:
    cfg = load_settings(quiet_hours_start=window[0], quiet_hours_end=window[1])
    at = edge + timedelta(minutes=offset_minutes)
    planned = next_allowed(channel, at, tz_names=zones, settings=cfg)
    assert planned >= at  # deferred, never earlier, never dropped
    assert planned - at < timedelta(days=31)
    if within_quiet_hours(planned, zones, cfg):
        if within_quiet_hours(at, zones, cfg):
            assert planned == at  # already allowed: not moved
    else:  # only allowed when the zones share no window: then the first zone's window holds
        assert within_quiet_hours(planned, zones[:1], cfg)
        assert _no_common_window(zones, cfg, at)


def _no_common_window(zones: list[str], cfg: object, at: datetime) -> bool:
    t = at
    for _ in range(2 * 24 * 4):
        if within_quiet_hours(t, zones, cfg):  # type: ignore[arg-type]
            return False
        t += timedelta(minutes=15)
    return True


def test_spring_forward_gap_start_resolves_to_first_real_instant() -> None:
    # 02:30 does not exist in New York on 2026-03-08: the window opens at 03:00 EDT
    cfg = load_settings(quiet_hours_start=time(2, 30), quiet_hours_end=time(21))
    at = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    planned = next_allowed("sms", at, tz_names=["America/New_York"], settings=cfg)
    local = planned.astimezone(ZoneInfo("America/New_York"))
    assert planned == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT
    assert local.hour == 3 and within_quiet_hours(planned, ["America/New_York"], cfg)


def test_fall_back_fold_end_uses_the_first_occurrence() -> None:
    # window ends 01:30; on 2026-11-01 01:30 happens twice in New York: the first one ends it
    cfg = load_settings(quiet_hours_start=time(0), quiet_hours_end=time(1, 30))
    first_130 = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert not within_quiet_hours(first_130, ["America/New_York"], cfg)
    planned = next_allowed("call", first_130, tz_names=["America/New_York"], settings=cfg)
    # the repeated 01:00–01:30 (EST) is not reused: the window opens once per local day
    assert planned == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)  # 00:00 EST the next day
    inside_second = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, second pass
    assert (
        next_allowed("call", inside_second, tz_names=["America/New_York"], settings=cfg)
        == inside_second
    )


def test_evening_sms_deferred_to_next_morning_local() -> None:
    cfg = load_settings()
    at = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)  # 19:00 in Los Angeles, 22:00 in New York
    assert next_allowed("sms", at, tz_names=["America/Los_Angeles"], settings=cfg) == at
    planned = next_allowed(
        "sms", at, tz_names=["America/New_York", "America/Los_Angeles"], settings=cfg
    )
    assert planned == datetime(2026, 11, 3, 16, 0, tzinfo=UTC)  # 08:00 LA (11:00 NY)


def test_number_with_several_zones_needs_all_of_them() -> None:
    zones = phone_zones("+18085550100")  # Hawaii
    assert zones == ["Pacific/Honolulu"]
    us_zones = phone_zones("+18005550100")  # toll-free: every NANP zone
    assert len(us_zones) > 1


def test_business_days_and_holidays() -> None:
    cfg = load_settings(holidays=[date(2026, 11, 26)])
    fri = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # Thu 22:00 NY (holiday)
    planned = next_allowed("email", fri, tz_names=[], settings=cfg)
    assert planned == datetime(2026, 11, 27, 13, 0, tzinfo=UTC)  # Fri 08:00 EST
    sat = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    assert next_allowed("call_task", sat, tz_names=[], settings=cfg) == datetime(
        2026, 11, 30, 13, 0, tzinfo=UTC
    )
    wed = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert add_business_days(wed, 3, cfg) == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
