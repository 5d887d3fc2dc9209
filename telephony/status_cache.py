"""The IVR's spoken status, memoized per vendor on the version of the data it depends on.

Every call still reads the database: one query (`CallerLookup`) finds the caller's vendor
together with a version key (vendor row's updated_at, the accepted certificates' count and
newest id, the profile's updated_at, the stored verdict's updated_at, the organization's
date). The TwiML is rebuilt when that
key changes, and at least every `ttl` seconds, so an edit that does not touch the key (a
corrected policy row) is heard within a minute at most."""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from comms.models import Certificate, RequirementProfile, Vendor, VendorVerdict


@dataclass(frozen=True)
class CallerRow:
    vendor_id: int
    key: tuple[Any, ...]


def _caller_query() -> Any:
    # The certificate subqueries filter on vendor_id only (the status is tested inside the
    # aggregate), so the database walks this vendor's few certificates by the vendor_id
    # index; `vendor_id = ? AND status = ?` let SQLite pick the status index instead and scan
    # every accepted certificate of every vendor.
    accepted = case((col(Certificate.status) == "accepted", col(Certificate.id)))
    mine = col(Certificate.vendor_id) == col(Vendor.id)
    n = select(func.count(accepted)).where(mine).correlate(Vendor).scalar_subquery()
    last = select(func.max(accepted)).where(mine).correlate(Vendor).scalar_subquery()
    profile_ts = (
        select(col(RequirementProfile.updated_at))
        .where(col(RequirementProfile.id) == col(Vendor.profile_id))
        .correlate(Vendor)
        .scalar_subquery()
    )
    verdict_ts = (  # the stored verdict's last change (a waiver, the daily roll)
        select(col(VendorVerdict.updated_at))
        .where(col(VendorVerdict.vendor_id) == col(Vendor.id))
        .correlate(Vendor)
        .scalar_subquery()
    )
    return (
        select(col(Vendor.id), col(Vendor.updated_at), n, last, profile_ts, verdict_ts)
        .where(col(Vendor.phone) == bindparam("phone"), col(Vendor.active))
        .order_by(col(Vendor.id))
        .limit(1)
    )


CALLER_QUERY = _caller_query()


class CallerLookup:
    """The active vendor with a number and its version key, in one query.

    The statement is compiled once for the engine's dialect and run on a pooled DB-API
    connection: on the hot path, SQLAlchemy's per-execution work costs several times the
    query itself. Its binds are plain strings and integers (no type processing), and the
    version key keeps the driver's raw values: it is only compared with itself."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        compiled = CALLER_QUERY.compile(dialect=engine.dialect)
        self.sql = compiled.string
        self._binds = dict(compiled.construct_params({"phone": ""}))
        self._names = list(compiled.positiontup or []) if compiled.positional else None

    def _bind(self, e164: str) -> tuple[Any, ...] | dict[str, Any]:
        binds = {**self._binds, "phone": e164}
        return binds if self._names is None else tuple(binds[n] for n in self._names)

    def __call__(self, e164: str, today: str) -> CallerRow | None:
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(self.sql, self._bind(e164))
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            conn.close()  # back to the pool, which ends the read transaction
        if row is None:
            return None
        return CallerRow(int(row[0]), (row[1], row[2], row[3], row[4], row[5], today))


class StatusCache:
    """TwiML per vendor and version key, for at most `ttl` seconds. Each entry lives a random
    75-100% of `ttl`, so that entries built together (after a restart, or a burst of calls)
    do not all expire, and get rebuilt, at the same moment."""

    def __init__(self, *, size: int = 10000, ttl: float = 60.0) -> None:
        self.size = size
        self.ttl = ttl
        self._random = random.Random()
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
            expires = time.monotonic() + self.ttl * self._random.uniform(0.75, 1.0)
            self._rows[vendor_id] = (key, expires, twiml)
            self._rows.move_to_end(vendor_id)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


def org_today(now: datetime, zone: Any) -> str:
    return now.astimezone(zone).date().isoformat()
