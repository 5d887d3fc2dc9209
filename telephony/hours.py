"""Is the call center open? `call_center_hours` ("09:00-17:00") on business days, org zone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache

from comms.settings import Settings, SettingsError, parse_time_range
from workflows.calendar import is_business_day

SETTING = "COMMS_CALL_CENTER_HOURS"


class HoursError(SettingsError, ValueError):
    """`call_center_hours` cannot be read. A SettingsError, so `comms web` and `comms run`
    stop with one line naming the setting (the web app checks it when it is built)."""

    code = "call_center_hours"


@lru_cache(maxsize=16)
def parse_hours(value: str) -> tuple[time, time]:
    """Start and end, local times of the organization's zone (no UTC offset: the zone is
    COMMS_TIMEZONE). Every bad value is a HoursError naming the setting."""
    try:
        return parse_time_range(value)
    except ValueError as exc:
        raise HoursError(f"{SETTING}: {exc} (e.g. 09:00-17:00)") from None


def call_center_open(at: datetime, settings: Settings) -> bool:
    if not settings.call_center_number:
        return False
    local = at.astimezone(settings.zone)
    start, end = parse_hours(settings.call_center_hours)
    return is_business_day(local.date(), settings) and start <= local.time() < end


def next_opening(at: datetime, settings: Settings) -> datetime:
    """`at` when the call center is open then, else the next time it opens (a call-back is
    due when someone is there to make it)."""
    zone = settings.zone
    start, end = parse_hours(settings.call_center_hours)
    local = at.astimezone(zone)
    if is_business_day(local.date(), settings) and start <= local.time() < end:
        return at
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    for _ in range(366):
        if is_business_day(day, settings):
            return datetime.combine(day, start, tzinfo=zone).astimezone(at.tzinfo)
        day += timedelta(days=1)
    raise ValueError("no business day within a year; check COMMS_BUSINESS_DAYS/_HOLIDAYS")
