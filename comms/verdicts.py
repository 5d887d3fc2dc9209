"""Verdicts from stored records: load a vendor's policies and profile, then `evaluate`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from comms.compliance import STATUS_ORDER, PolicyFacts, Status, Verdict, evaluate
from comms.models import Certificate, Policy, RequirementProfile, Vendor
from comms.profiles import ProfileSpec, spec_of
from comms.waivers import waiver_rules

COUNTING_STATUSES = ("accepted",)
EMPTY_PROFILE = ProfileSpec(name="(none)")


def facts_of(policy: Policy, certificate: Certificate | None = None) -> PolicyFacts:
    endorsements: tuple[str, ...] = ()
    if certificate is not None:
        forms = certificate.extraction.get("endorsements") or []
        endorsements = tuple(
            str(f) for item in forms if isinstance(item, dict) for f in item.get("forms", [])
        )
    return PolicyFacts(
        coverage=policy.coverage,
        effective=policy.effective_date,
        expiration=policy.expiration_date,
        limits=dict(policy.limits or {}),
        additional_insured=policy.additional_insured,
        subrogation_waived=policy.subrogation_waived,
        occurrence=policy.occurrence,
        label=policy.label,
        policy_number=policy.policy_number,
        received_at=certificate.received_at if certificate else None,
        endorsements=endorsements,
    )


def profile_for(session: Session, vendor: Vendor) -> ProfileSpec:
    if vendor.profile_id is None:
        return EMPTY_PROFILE
    row = session.get(RequirementProfile, vendor.profile_id)
    return spec_of(row) if row is not None else EMPTY_PROFILE


def vendor_verdict(
    session: Session, vendor: Vendor, as_of: date, *, statuses: Iterable[str] = COUNTING_STATUSES
) -> Verdict:
    """The vendor's verdict from its certificates whose status counts (accepted by default)."""
    wanted = tuple(statuses)
    rows = session.exec(
        select(Policy, Certificate)
        .join(Certificate, col(Certificate.id) == col(Policy.certificate_id))
        .where(col(Policy.vendor_id) == vendor.id, col(Certificate.status).in_(wanted))
    ).all()
    has_cert = bool(rows) or (
        session.exec(
            select(Certificate.id).where(
                col(Certificate.vendor_id) == vendor.id, col(Certificate.status).in_(wanted)
            )
        ).first()
        is not None
    )
    assert vendor.id is not None
    return evaluate(
        [facts_of(p, c) for p, c in rows],
        profile_for(session, vendor),
        as_of,
        has_certificate=has_cert,
        waivers=waiver_rules(session, [vendor.id]).get(vendor.id, ()),
    )


@dataclass
class VendorStatus:
    vendor: Vendor
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        v = self.verdict
        return {
            "name": self.vendor.name,
            "status": v.status.value,
            "next_expiration": v.next_expiration.isoformat() if v.next_expiration else None,
            "deficiencies": [
                {"code": d.code, "coverage": d.coverage, "message": d.message}
                for d in v.deficiencies
            ],
        }


def all_verdicts(
    session: Session, as_of: date, *, vendor_name: str | None = None
) -> list[VendorStatus]:
    """Every active vendor's verdict, loading policies in one query."""
    query = select(Vendor).where(col(Vendor.active).is_(True)).order_by(col(Vendor.name))
    if vendor_name:
        query = query.where(col(Vendor.name).ilike(vendor_name))
    vendors = session.exec(query).all()
    profiles = {r.id: spec_of(r) for r in session.exec(select(RequirementProfile)).all()}
    by_vendor: dict[int, list[PolicyFacts]] = defaultdict(list)
    with_cert: set[int] = set()
    certs = {
        c.id: c
        for c in session.exec(
            select(Certificate).where(col(Certificate.status).in_(COUNTING_STATUSES))
        ).all()
    }
    for c in certs.values():
        with_cert.add(c.vendor_id)
    for p in session.exec(select(Policy)).all():
        cert = certs.get(p.certificate_id)
        if cert is not None:
            by_vendor[p.vendor_id].append(facts_of(p, cert))
    waived = waiver_rules(session)
    out: list[VendorStatus] = []
    for vendor in vendors:
        assert vendor.id is not None
        profile = (
            profiles.get(vendor.profile_id, EMPTY_PROFILE) if vendor.profile_id else EMPTY_PROFILE
        )
        verdict = evaluate(
            by_vendor.get(vendor.id, []),
            profile,
            as_of,
            has_certificate=vendor.id in with_cert,
            waivers=waived.get(vendor.id, ()),
        )
        out.append(VendorStatus(vendor=vendor, verdict=verdict))
    return out


def status_report(statuses: list[VendorStatus], as_of: date) -> dict[str, Any]:
    counts = {s.value: 0 for s in STATUS_ORDER}
    for item in statuses:
        counts[item.verdict.status.value] += 1
    return {
        "as_of": as_of.isoformat(),
        "counts": counts,
        "vendors": [item.as_dict() for item in statuses],
    }


__all__ = ["Status", "VendorStatus", "all_verdicts", "status_report", "vendor_verdict"]
