"""Granting, revoking and reading waivers. A waiver sets one requirement aside for one vendor
(`comms.compliance.WaiverRule` is what the verdict sees of it); every grant and revocation is
audited on the vendor."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from comms.compliance import ANY_RULE, CHECKS, WaiverRule
from comms.coverage import coverage_name, limit_name, money
from comms.errors import PermanentError
from comms.models import Vendor, audit
from comms.models.waivers import Waiver
from comms.profiles import ProfileSpec
from comms.stored_verdicts import refresh_vendor
from comms.verdict_inputs import rule_of

MAX_REASON = 500
NO_CERTIFICATE = "no_certificate"
CODES = frozenset({c.code for c in CHECKS} | {NO_CERTIFICATE, ANY_RULE})


class WaiverRefused(PermanentError):
    """A grant or revocation that cannot be done as asked (the message says why)."""

    code = "waiver_refused"


class WaiverConflict(PermanentError):
    """The same requirement already has a live waiver (or another grant of it just won)."""

    code = "waiver_conflict"


@dataclass(frozen=True)
class Choice:
    """One requirement a waiver can set aside, for a form."""

    code: str
    coverage: str
    limit: str
    label: str

    @property
    def value(self) -> str:
        return f"{self.code}|{self.coverage}|{self.limit}"


def parse_choice(value: str) -> tuple[str, str, str]:
    parts = value.split("|")
    if len(parts) != 3 or parts[0] not in CODES:
        raise WaiverRefused(f"unknown requirement {value[:60]!r}")
    return parts[0], parts[1], parts[2]


def choices(profile: ProfileSpec) -> list[Choice]:
    """Every requirement of `profile` a waiver can set aside, in words."""
    out = [Choice(NO_CERTIFICATE, "", "", "A certificate on file")]
    for key, req in profile.coverages.items():
        name = coverage_name(key, req.label)
        out.append(Choice(ANY_RULE, key, "", f"{name}: every requirement"))
        out.append(Choice("missing_coverage", key, "", f"{name}: on the certificate"))
        out.append(Choice("expired", key, "", f"{name}: in force"))
        for limit, amount in req.limits.items():
            words = limit_name(limit)
            words = words if words.endswith("limit") else f"{words} limit"
            label = f"{name}: {words} of {money(amount)}"
            out.append(Choice("limit_below_minimum", key, limit, label))
        if req.additional_insured:
            out.append(Choice("additional_insured_missing", key, "", f"{name}: additional insured"))
        if req.waiver_of_subrogation:
            out.append(Choice("waiver_missing", key, "", f"{name}: waiver of subrogation"))
        if req.occurrence:
            out.append(Choice("claims_made_not_accepted", key, "", f"{name}: occurrence form"))
        if req.endorsements:
            out.append(Choice("endorsement_missing", key, "", f"{name}: endorsements"))
        out.append(Choice("expiring_soon", key, "", f"{name}: not expiring soon"))
    return out


def describe(waiver: Waiver) -> str:
    """The requirement a waiver sets aside, in words."""
    if waiver.code == NO_CERTIFICATE:
        return "A certificate on file"
    name = coverage_name(waiver.coverage)
    if waiver.code == ANY_RULE:
        return f"{name}: every requirement"
    what = waiver.code.replace("_", " ")
    if waiver.limit:
        what = f"{limit_name(waiver.limit)} limit"
    return f"{name}: {what}"


def waiver_rules(
    session: Session, vendor_ids: Iterable[int] | None = None
) -> dict[int, list[WaiverRule]]:
    """Every waiver (revoked ones too: they applied before), by vendor. The verdict decides
    which apply on its date."""
    query = select(Waiver)
    wanted: set[int] | None = None
    if vendor_ids is not None:
        wanted = set(vendor_ids)
        if not wanted:
            return {}
        if len(wanted) <= 500:  # else: waivers are few, read them all and keep the wanted
            query = query.where(col(Waiver.vendor_id).in_(sorted(wanted)))
    out: dict[int, list[WaiverRule]] = defaultdict(list)
    for row in session.exec(query).all():
        if wanted is None or row.vendor_id in wanted:
            out[row.vendor_id].append(rule_of(row))
    return dict(out)


def is_live(waiver: Waiver, today: date) -> bool:
    return waiver.revoked_at is None and (waiver.expires_on is None or today < waiver.expires_on)


def grant_waiver(
    session: Session,
    *,
    vendor_id: int,
    code: str,
    coverage: str,
    limit: str = "",
    reason: str,
    by: str,
    admin: bool,
    expires_on: date | None,
    now: datetime,
    zone: ZoneInfo,
) -> Waiver:
    """Grant and commit a waiver; `expires_on` None is permanent (admins only). Raises
    WaiverRefused for a bad request and WaiverConflict when the requirement already has a
    live waiver; nothing is written then."""
    today = now.astimezone(zone).date()
    reason = reason.strip()
    if code not in CODES:
        raise WaiverRefused(f"unknown requirement code {code[:40]!r}")
    if not reason:
        raise WaiverRefused("a waiver needs a reason")
    if len(reason) > MAX_REASON:
        raise WaiverRefused(f"a reason has at most {MAX_REASON} characters")
    if expires_on is None and not admin:
        raise WaiverRefused("only an admin may grant a permanent waiver")
    if expires_on is not None and expires_on <= today:
        raise WaiverRefused(f"the expiry date {expires_on.isoformat()} is not after today")
    vendor = session.get(Vendor, vendor_id)
    if vendor is None:
        raise WaiverRefused(f"there is no vendor {vendor_id}")
    key = f"{vendor_id}:{coverage}:{code}:{limit}"
    # a waiver of the same requirement that has expired no longer holds the key
    for old in session.exec(select(Waiver).where(col(Waiver.live_key) == key)).all():
        if is_live(old, today):
            raise WaiverConflict(f"this requirement already has a live waiver (#{old.id})")
        session.execute(update(Waiver).where(col(Waiver.id) == old.id).values(live_key=None))
    waiver = Waiver(
        vendor_id=vendor_id,
        coverage=coverage,
        code=code,
        limit=limit,
        reason=reason,
        granted_by=by,
        granted_at=now,
        starts_on=today,
        expires_on=expires_on,
        live_key=key,
    )
    session.add(waiver)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise WaiverConflict("another grant of this waiver was just saved") from None
    audit(
        session,
        action="waiver.grant",
        entity="vendor",
        entity_id=vendor_id,
        actor=by,
        at=now,
        data={
            "before": None,
            "after": {
                "waiver": waiver.id,
                "requirement": describe(waiver),
                "reason": reason,
                "expires_on": expires_on.isoformat() if expires_on else "permanent",
            },
        },
    )
    refresh_vendor(session, vendor_id, now=now, reason=f"waiver {waiver.id} granted by {by}")
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise WaiverConflict("another grant of this waiver was just saved") from None
    return waiver


def revoke_waiver(
    session: Session, waiver_id: int, *, by: str, now: datetime, zone: ZoneInfo
) -> Waiver:
    """End a waiver today (it still counts for the days before); audited and committed."""
    waiver = session.get(Waiver, waiver_id)
    if waiver is None:
        raise WaiverRefused(f"there is no waiver {waiver_id}")
    if waiver.revoked_at is not None:
        raise WaiverConflict(f"waiver {waiver_id} was already revoked by {waiver.revoked_by}")
    changed = session.execute(
        update(Waiver)
        .where(col(Waiver.id) == waiver_id, col(Waiver.revoked_at).is_(None))
        .values(
            revoked_at=now,
            revoked_by=by,
            revoked_on=now.astimezone(zone).date(),
            live_key=None,
        )
    )
    if getattr(changed, "rowcount", 1) != 1:
        session.rollback()
        raise WaiverConflict(f"waiver {waiver_id} was just revoked by someone else")
    audit(
        session,
        action="waiver.revoke",
        entity="vendor",
        entity_id=waiver.vendor_id,
        actor=by,
        at=now,
        data={
            "before": {"waiver": waiver_id, "requirement": describe(waiver)},
            "after": {"revoked": True},
        },
    )
    refresh_vendor(session, waiver.vendor_id, now=now, reason=f"waiver {waiver_id} revoked by {by}")
    session.commit()
    session.refresh(waiver)
    return waiver


def waiver_list(
    session: Session, *, today: date, limit: int = 500
) -> list[tuple[Waiver, str, bool]]:
    """Waivers with their vendor's name and whether they are live: the live ones first, the
    soonest to expire at the top (permanent ones after them), then the expired and revoked,
    newest first."""
    live = col(Waiver.revoked_at).is_(None) & (
        col(Waiver.expires_on).is_(None) | (col(Waiver.expires_on) > today)
    )
    first = session.exec(
        select(Waiver, Vendor.name)
        .join(Vendor, col(Vendor.id) == col(Waiver.vendor_id))
        .where(live)
        .order_by(col(Waiver.expires_on).is_(None), col(Waiver.expires_on), col(Waiver.id))
        .limit(limit)
    ).all()
    rest = session.exec(
        select(Waiver, Vendor.name)
        .join(Vendor, col(Vendor.id) == col(Waiver.vendor_id))
        .where(~live)
        .order_by(col(Waiver.granted_at).desc(), col(Waiver.id).desc())
        .limit(max(0, limit - len(first)))
    ).all()
    return [(w, n, True) for w, n in first] + [(w, n, False) for w, n in rest]
