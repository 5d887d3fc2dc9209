"""The one loader of verdict inputs: for many vendor ids, in a few queries per chunk, what
`comms.compliance.evaluate` and the stored verdict's flags need.

A vendor "has a certificate" when it has at least one certificate whose status counts
(`COUNTING_STATUSES`, accepted), with or without policies; only those certificates' policies
are facts. Every reader of verdicts (stored or fresh, one vendor or a million) goes through
`load_inputs`, so they cannot disagree on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from comms.compliance import PolicyFacts, Verdict, WaiverRule, evaluate
from comms.models import Agent, Certificate, Policy, RequirementProfile, Vendor, Waiver
from comms.profiles import ProfileSpec, spec_of

COUNTING_STATUSES = ("accepted",)
EMPTY_PROFILE = ProfileSpec(name="(none)")
CHUNK = 500  # ids per IN list


@dataclass
class VerdictInputs:
    vendor_id: int
    profile_id: int | None
    profile: ProfileSpec
    active: bool
    reachable: bool  # an email or a phone of its own, or an agent with one
    has_certificate: bool = False
    facts: list[PolicyFacts] = field(default_factory=list)
    waivers: list[WaiverRule] = field(default_factory=list)  # revoked ones too

    def verdict(self, day: date) -> Verdict:
        """`evaluate` of these inputs on `day`: the one way every reader computes it."""
        return evaluate(
            self.facts,
            self.profile,
            day,
            has_certificate=self.has_certificate,
            waivers=self.waivers,
        )


def endorsements_of(extraction: dict[str, Any] | None) -> tuple[str, ...]:
    forms = (extraction or {}).get("endorsements") or []
    return tuple(str(f) for item in forms if isinstance(item, dict) for f in item.get("forms", []))


def facts_of(policy: Policy, certificate: Certificate | None = None) -> PolicyFacts:
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
        endorsements=endorsements_of(certificate.extraction) if certificate else (),
    )


def chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


class ProfileCache:
    """Profiles by id, read once each (a profile is shared by thousands of vendors)."""

    def __init__(self) -> None:
        self._specs: dict[int, ProfileSpec] = {}

    def get(self, session: Session, profile_id: int | None) -> ProfileSpec:
        if profile_id is None:
            return EMPTY_PROFILE
        spec = self._specs.get(profile_id)
        if spec is None:
            row = session.get(RequirementProfile, profile_id)
            spec = spec_of(row) if row is not None else EMPTY_PROFILE
            self._specs[profile_id] = spec
        return spec


_POLICY_COLUMNS = (
    col(Policy.vendor_id),
    col(Policy.coverage),
    col(Policy.effective_date),
    col(Policy.expiration_date),
    col(Policy.limits),
    col(Policy.additional_insured),
    col(Policy.subrogation_waived),
    col(Policy.occurrence),
    col(Policy.label),
    col(Policy.policy_number),
    col(Certificate.received_at),
    col(Certificate.extraction),
    col(Certificate.status),
)


def load_inputs(
    session: Session, vendor_ids: Iterable[int], *, profiles: ProfileCache | None = None
) -> dict[int, VerdictInputs]:
    """The verdict inputs of each named vendor that exists (a missing id is left out)."""
    cache = profiles or ProfileCache()
    conn = session.connection()
    out: dict[int, VerdictInputs] = {}
    for chunk in chunks(vendor_ids):
        vendors = conn.execute(
            select(
                col(Vendor.id),
                col(Vendor.profile_id),
                col(Vendor.active),
                col(Vendor.email),
                col(Vendor.phone),
                col(Agent.email),
                col(Agent.phone),
            )
            .select_from(Vendor)
            .outerjoin(Agent, col(Agent.id) == col(Vendor.agent_id))
            .where(col(Vendor.id).in_(chunk))
        ).all()
        for vid, profile_id, active, email, phone, agent_email, agent_phone in vendors:
            assert vid is not None
            out[vid] = VerdictInputs(
                vendor_id=vid,
                profile_id=profile_id,
                profile=cache.get(session, profile_id),
                active=bool(active),
                reachable=bool(email or phone or agent_email or agent_phone),
            )
        # the status is tested here, not in SQL: `vendor_id IN … AND status IN …` lets SQLite
        # pick the status index and walk every accepted certificate for each chunk
        for vid, status in conn.execute(
            select(col(Certificate.vendor_id), col(Certificate.status)).where(
                col(Certificate.vendor_id).in_(chunk)
            )
        ).all():
            if vid in out and status in COUNTING_STATUSES:
                out[vid].has_certificate = True
        for row in conn.execute(
            select(*_POLICY_COLUMNS)
            .join(Certificate, col(Certificate.id) == col(Policy.certificate_id))
            .where(col(Policy.vendor_id).in_(chunk))
            .order_by(col(Policy.id))
        ).all():
            target = out.get(row[0])
            if target is None or row[12] not in COUNTING_STATUSES:
                continue
            target.facts.append(
                PolicyFacts(
                    coverage=row[1],
                    effective=row[2],
                    expiration=row[3],
                    limits=dict(row[4] or {}),
                    additional_insured=row[5],
                    subrogation_waived=row[6],
                    occurrence=row[7],
                    label=row[8],
                    policy_number=row[9],
                    received_at=row[10],
                    endorsements=endorsements_of(row[11]),
                )
            )
        for waiver in session.scalars(select(Waiver).where(col(Waiver.vendor_id).in_(chunk))):
            target = out.get(waiver.vendor_id)
            if target is not None:
                target.waivers.append(rule_of(waiver))
    return out


def rule_of(waiver: Waiver) -> WaiverRule:
    """A waiver row as the rule the verdict applies."""
    return WaiverRule(
        id=waiver.id or 0,
        coverage=waiver.coverage,
        code=waiver.code,
        limit=waiver.limit,
        starts_on=waiver.starts_on,
        expires_on=waiver.expires_on,
        revoked_on=waiver.revoked_on,
    )


def one(session: Session, vendor_id: int) -> VerdictInputs | None:
    return load_inputs(session, [vendor_id]).get(vendor_id)


__all__ = [
    "COUNTING_STATUSES",
    "EMPTY_PROFILE",
    "ProfileCache",
    "VerdictInputs",
    "chunks",
    "facts_of",
    "load_inputs",
    "one",
]
