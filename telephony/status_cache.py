"""The IVR's spoken status, memoized per vendor on the version of the data it depends on.

Every call still reads the database: one query finds the caller's vendor together with a
version key (vendor row's updated_at, the accepted certificates' count and newest id, the
profile's updated_at, the organization's date). The TwiML is rebuilt when that key changes,
and at least every `ttl` seconds, so an edit that does not touch the key (a corrected policy
row) is heard within a minute at most."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlmodel import Session, col

from comms.models import Certificate, RequirementProfile, Vendor


@dataclass(frozen=True)
class CallerRow:
    vendor_id: int
    key: tuple[Any, ...]


def _caller_query() -> Any:
    accepted = and_(
        col(Certificate.vendor_id) == col(Vendor.id), col(Certificate.status) == "accepted"
    )
    n = select(func.count(col(Certificate.id))).where(accepted).correlate(Vendor).scalar_subquery()
    last = select(func.max(col(Certificate.id))).where(accepted).correlate(Vendor).scalar_subquery()
    profile_ts = (
        select(col(RequirementProfile.updated_at))
        .where(col(RequirementProfile.id) == col(Vendor.profile_id))
        .correlate(Vendor)
        .scalar_subquery()
    )
    return (
        select(col(Vendor.id), col(Vendor.updated_at), n, last, profile_ts)
        .where(col(Vendor.phone) == bindparam("phone"), col(Vendor.active))
        .order_by(col(Vendor.id))
        .limit(1)
    )


CALLER_QUERY = _caller_query()  # built once: the hot path only binds the number


def caller_by_phone(session: Session, e164: str, today: str) -> CallerRow | None:
    """The active vendor with this number and its version key, in one query."""
    row = session.execute(CALLER_QUERY, {"phone": e164}).first()
    if row is None:
        return None
    return CallerRow(int(row[0]), (row[1], row[2], row[3], row[4], today))


class StatusCache:
    def __init__(self, *, size: int = 10000, ttl: float = 60.0) -> None:
        self.size = size
        self.ttl = ttl
        self._rows: OrderedDict[int, tuple[tuple[Any, ...], float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, vendor_id: int, key: tuple[Any, ...]) -> str | None:
        with self._lock:
            hit = self._rows.get(vendor_id)
            if hit is None or hit[0] != key or hit[1] < time.monotonic():
                return None
            self._rows.move_to_end(vendor_id)
            return hit[2]

    def put(self, vendor_id: int, key: tuple[Any, ...], twiml: str) -> None:
        with self._lock:
            self._rows[vendor_id] = (key, time.monotonic() + self.ttl, twiml)
            self._rows.move_to_end(vendor_id)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


def org_today(now: datetime, zone: Any) -> str:
    return now.astimezone(zone).date().isoformat()
