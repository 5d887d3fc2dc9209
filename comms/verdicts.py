"""Verdicts computed from records, through the one loader of their inputs
(`comms.verdict_inputs.load_inputs`). The stored verdicts (`comms.stored_verdicts`) are these,
kept; the readers that want today's verdict read those."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from comms.compliance import STATUS_ORDER, Status, Verdict
from comms.models import Vendor
from comms.profiles import ProfileSpec
from comms.stored_verdicts import UNREACHABLE, computed, judge, vendor_id_batches
from comms.verdict_inputs import (
    COUNTING_STATUSES,
    EMPTY_PROFILE,
    ProfileCache,
    facts_of,
    load_inputs,
)

BATCH = 1000


def profile_for(session: Session, vendor: Vendor) -> ProfileSpec:
    """The vendor's requirement profile (an empty one when it has none)."""
    return ProfileCache().get(session, vendor.profile_id)


def vendor_verdict(session: Session, vendor: Vendor, as_of: date) -> Verdict:
    """The vendor's verdict on `as_of`, computed from its records (`--as-of` another day, a
    check against the stored one); today's verdict is `comms.stored_verdicts.verdict_on`."""
    assert vendor.id is not None
    return computed(session, vendor.id, as_of)


@dataclass
class VendorStatus:
    vendor: Vendor
    verdict: Verdict
    flags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return vendor_entry(
            vendor_id=self.vendor.id or 0,
            name=self.vendor.name,
            vendor_code=self.vendor.vendor_code,
            verdict=self.verdict,
            flags=self.flags,
        )


def vendor_entry(
    *,
    vendor_id: int,
    name: str,
    vendor_code: str | None,
    verdict: Verdict,
    flags: tuple[str, ...] | list[str],
) -> dict[str, Any]:
    """One vendor of `comms status --json`."""
    v = verdict
    return {
        "name": name,
        "vendor_id": vendor_code,
        "id": vendor_id,
        "status": v.status.value,
        "unreachable": UNREACHABLE in flags,
        "flags": list(flags),
        "next_expiration": v.next_expiration.isoformat() if v.next_expiration else None,
        "deficiencies": [
            {"code": d.code, "coverage": d.coverage, "message": d.message} for d in v.deficiencies
        ],
    }


def iter_verdicts(
    session: Session, as_of: date, *, vendor_name: str | None = None, batch: int = BATCH
) -> Iterator[VendorStatus]:
    """Every active vendor's verdict on `as_of` computed from its records, a batch of vendors
    at a time (memory follows the batch, not the roster), in vendor id order."""
    cache = ProfileCache()
    if vendor_name:
        ids: list[int] = list(
            session.connection()
            .scalars(
                select(Vendor.__table__.c.id)  # type: ignore[attr-defined]
                .where(col(Vendor.active).is_(True), col(Vendor.name).ilike(vendor_name))
                .order_by(col(Vendor.id))
            )
            .all()
        )
        batches: Iterator[list[int]] = iter([ids] if ids else [])
    else:
        batches = vendor_id_batches(session, active_only=True, batch=batch)
    for ids in batches:
        inputs = load_inputs(session, ids, profiles=cache)
        vendors = {v.id: v for v in session.scalars(select(Vendor).where(col(Vendor.id).in_(ids)))}
        for vid in ids:
            item = inputs.get(vid)
            if item is None:
                continue
            judged = judge(item, as_of)
            yield VendorStatus(vendors[vid], judged.verdict, judged.flags)


def status_report(statuses: list[VendorStatus], as_of: date) -> dict[str, Any]:
    counts = {s.value: 0 for s in STATUS_ORDER}
    for item in statuses:
        counts[item.verdict.status.value] += 1
    return {
        "as_of": as_of.isoformat(),
        "counts": counts,
        "vendors": [item.as_dict() for item in statuses],
    }


__all__ = [
    "COUNTING_STATUSES",
    "EMPTY_PROFILE",
    "Status",
    "VendorStatus",
    "facts_of",
    "iter_verdicts",
    "profile_for",
    "status_report",
    "vendor_entry",
    "vendor_verdict",
]
