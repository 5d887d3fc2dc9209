"""When a channel may be used: quiet hours in the recipient's zones, business days in the
organization's zone. A moment outside the window is moved to the next allowed one, never
dropped. All arithmetic goes through UTC and `zoneinfo`, so DST gaps and folds are handled:
local wall times are only ever produced by `astimezone` (never nonexistent), and a local start
time that falls in a spring-forward gap resolves (PEP 495, fold=0) to the first real instant
after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as pn_timezone

from comms.channel_spec import channel_spec
from comms.settings import Settings

_MAX_SEARCH_DAYS = 30


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local `day at` (the first valid instant when it falls in a gap)."""
    naive = datetime.combine(day, at)
    instant = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    back = instant.astimezone(zone).replace(tzinfo=None)
    if back == naive:
        return instant
    # a gap: the first real instant whose wall time is ≥ `naive` is the transition itself
    lo = min(instant, naive.replace(tzinfo=zone, fold=1).astimezone(UTC))
    hi = max(instant, naive.replace(tzinfo=zone, fold=1).astimezone(UTC))
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0) if hi.microsecond else hi


def phone_zones(number: str | None, region: str = "US") -> list[str]:
    """The IANA zones of a phone number (empty when unknown)."""
    if not number:
        return []
    return list(_phone_zones(number, region))


@lru_cache(maxsize=4096)
def _phone_zones(number: str, region: str) -> tuple[str, ...]:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return ()
    zones = [z for z in pn_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    return tuple(z for z in zones if _valid_zone(z))


def _valid_zone(name: str) -> bool:
    try:
        _zone(name)
    except (KeyError, ValueError):
        return False
    return True


def recipient_zones(vendor: object, settings: Settings, *, phone: str | None = None) -> list[str]:
    """The vendor's zone if set, else every zone of its phone number, else the org zone."""
    tz = getattr(vendor, "timezone", None)
    if tz and _valid_zone(tz):
        return [tz]
    zones = phone_zones(
        phone if phone is not None else getattr(vendor, "phone", None), settings.default_region
    )
    return zones or [settings.timezone]


def within_quiet_hours(at: datetime, tz_names: Iterable[str], settings: Settings) -> bool:
    """True when `at` is inside the allowed window (start ≤ local time < end) in every zone."""
    for name in tz_names:
        local = at.astimezone(_zone(name)).time()
        if not settings.quiet_hours_start <= local < settings.quiet_hours_end:
            return False
    return True


def is_business_day(day: date, settings: Settings) -> bool:
    return day.weekday() in settings.business_days and day not in settings.holidays


def _next_business_day(day: date, settings: Settings) -> date:
    for _ in range(366):
        if is_business_day(day, settings):
            return day
        day += timedelta(days=1)
    raise ValueError("no business day within a year: check business_days and holidays")


def add_business_days(at: datetime, days: int, settings: Settings) -> datetime:
    """Move `days` business days forward in the org zone, keeping the local time of day."""
    zone = settings.zone
    local = at.astimezone(zone)
    day = local.date()
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_business_day(day, settings):
            remaining -= 1
    if days <= 0:
        return at
    return _local_instant(day, local.time().replace(tzinfo=None), zone)


def _next_window_start(at: datetime, name: str, settings: Settings) -> datetime:
    """The next instant ≥ at when the window is open in zone `name`."""
    zone = _zone(name)
    local = at.astimezone(zone)
    day = local.date()
    for _ in range(3):
        start = _local_instant(day, settings.quiet_hours_start, zone)
        end = _local_instant(day, settings.quiet_hours_end, zone)
        if at < end:
            return max(at, start)
        day += timedelta(days=1)
    return at  # unreachable with start < end


def next_quiet_window(at: datetime, tz_names: Sequence[str], settings: Settings) -> datetime:
    """The first instant ≥ at inside the window in all zones (else in the first zone alone,
    for number ranges whose zones share no window)."""
    names = list(tz_names) or [settings.timezone]
    candidate = at
    limit = at + timedelta(days=_MAX_SEARCH_DAYS)
    while candidate < limit:
        if within_quiet_hours(candidate, names, settings):
            return candidate
        candidate = max(_next_window_start(candidate, n, settings) for n in names)
        if within_quiet_hours(candidate, names, settings):
            return candidate
        # the latest start lies past another zone's end: try from that zone's next day
        candidate = candidate + timedelta(minutes=1)
    return _next_window_start(at, names[0], settings)


def next_business_moment(at: datetime, settings: Settings) -> datetime:
    """`at` on a business day in the org zone; else the next business day at start of day
    (the quiet-hours start)."""
    zone = settings.zone
    local = at.astimezone(zone)
    if is_business_day(local.date(), settings):
        return at
    day = _next_business_day(local.date() + timedelta(days=1), settings)
    return _local_instant(day, settings.quiet_hours_start, zone)


def next_allowed(
    channel: str, at: datetime, *, tz_names: Sequence[str], settings: Settings
) -> datetime:
    """The first moment ≥ at when `channel` may be used for recipients in `tz_names`, as its
    window says (`comms.channel_spec`): inside quiet hours in every recipient zone (SMS,
    calls), or on a business day in the org zone (emails, call tasks).
    """
    if at.tzinfo is None:
        raise ValueError("next_allowed needs an aware datetime")
    at = at.astimezone(UTC)
    if uses_quiet_hours(channel):
        return next_quiet_window(at, tz_names, settings)
    return next_business_moment(at, settings)


def uses_quiet_hours(channel: str) -> bool:
    """Whether `channel` waits for the recipient's quiet hours (else for a business day)."""
    return channel_spec(channel).window == "quiet_hours"


def org_date(at: datetime, settings: Settings) -> date:
    """The calendar date of `at` in the organization's zone."""
    return at.astimezone(settings.zone).date()


def local_moment(day: date, at: time, settings: Settings) -> datetime:
    """Local `day at` in the org zone, as an aware UTC datetime."""
    return _local_instant(day, at, settings.zone)
