"""The requirement checklist beside a held certificate: the vendor's verdict as it would be
with this certificate counted, and each requirement of the profile passed, failed, waived or
not checked (a coverage that is missing or not in force has nothing else to check)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, col, or_, select

from comms.compliance import ANY_RULE, Deficiency, Verdict, evaluate
from comms.models import Certificate, Policy, Vendor
from comms.verdicts import COUNTING_STATUSES, facts_of, profile_for
from comms.waivers import NO_CERTIFICATE, choices, waiver_rules

FINAL = {"missing_coverage": "missing_coverage", "expired": "expired"}
IN_FORCE_CODES = {"expired", "not_yet_effective"}


@dataclass(frozen=True)
class Line:
    label: str
    result: str  # pass, fail, waived, not checked
    value: str  # the requirement, for the approve-as-waiver form
    message: str = ""
    until: date | None = None  # the default expiry of a waiver approved here


def verdict_with(session: Session, vendor: Vendor, cert: Certificate, day: date) -> Verdict:
    """The vendor's verdict on `day` if `cert` counted beside the accepted ones."""
    rows = session.exec(
        select(Policy, Certificate)
        .join(Certificate, col(Certificate.id) == col(Policy.certificate_id))
        .where(
            col(Policy.vendor_id) == vendor.id,
            or_(col(Certificate.status).in_(COUNTING_STATUSES), col(Certificate.id) == cert.id),
        )
    ).all()
    assert vendor.id is not None
    return evaluate(
        [facts_of(p, c) for p, c in rows],
        profile_for(session, vendor),
        day,
        has_certificate=True,
        waivers=waiver_rules(session, [vendor.id]).get(vendor.id, ()),
    )


def _hits(found: tuple[Deficiency, ...], code: str, coverage: str, limit: str) -> list[Deficiency]:
    codes = IN_FORCE_CODES if code == "expired" else {code}
    return [
        d
        for d in found
        if d.coverage == coverage and d.code in codes and (not limit or d.limit == limit)
    ]


def checklist(session: Session, vendor: Vendor, cert: Certificate, verdict: Verdict) -> list[Line]:
    profile = profile_for(session, vendor)
    ends: dict[str, date] = {}
    for p in session.exec(select(Policy).where(col(Policy.certificate_id) == cert.id)).all():
        if p.expiration_date is not None:
            ends[p.coverage] = max(ends.get(p.coverage, p.expiration_date), p.expiration_date)
    stopped = {d.coverage for d in (*verdict.deficiencies, *verdict.waived) if d.code in FINAL}
    stopped |= {d.coverage for d in verdict.deficiencies if d.code == "not_yet_effective"}
    out: list[Line] = []
    for c in choices(profile):
        if c.code in (ANY_RULE, NO_CERTIFICATE, "expiring_soon"):
            continue
        failed = _hits(verdict.deficiencies, c.code, c.coverage, c.limit)
        waived = _hits(verdict.waived, c.code, c.coverage, c.limit)
        until = ends.get(c.coverage) or (verdict.as_of + timedelta(days=365))
        if failed:
            result, message = "fail", failed[0].message
        elif waived:
            result, message = "waived", waived[0].message
        elif c.coverage in stopped and c.code not in FINAL:
            result, message = "not checked", ""
        else:
            result, message = "pass", ""
        out.append(Line(c.label, result, c.value, message, until))
    return out
