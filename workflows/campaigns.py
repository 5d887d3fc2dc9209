"""Campaigns: one-off or periodic outreach to a segment (by profile, by status, by
expiring-within), riding the same cases, outbox, calendar and stop conditions as the ladders.

A campaign's case runs a one-step workflow built from the campaign row
(`workflows.case_workflow`); it resolves without
sending when the vendor has become compliant (when the campaign says so) or the campaign was
stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from comms.compliance import Verdict
from comms.models import OPEN_STATES, Case, RequirementProfile, Vendor
from comms.settings import Settings
from comms.stored_verdicts import stored_for
from comms.verdict_inputs import ProfileCache, load_inputs
from workflows.calendar import org_date
from workflows.case_state import set_state
from workflows.case_workflow import campaign_workflow
from workflows.lifecycle import open_case
from workflows.models import Campaign

BATCH = 1000  # vendors per batch


def stop_reason(campaign: Campaign | None, vendor_active: bool, verdict: Verdict) -> str | None:
    """Why a campaign case resolves without sending, or None."""
    if campaign is None or campaign.state == "stopped":
        return "the campaign was stopped"
    if not vendor_active:
        return "vendor inactive"
    if campaign.stop_when_compliant and verdict.status.value == "compliant":
        return "the vendor is compliant"
    return None


def _vendor_batches(
    session: Session, profile_id: int | None, batch: int = BATCH
) -> Iterator[list[Vendor]]:
    """The active vendors (of the profile, when given), a batch at a time, by name (keyset
    on name and id)."""
    after: tuple[str, int] | None = None
    while True:
        query = (
            select(Vendor)
            .where(col(Vendor.active).is_(True))
            .order_by(col(Vendor.name), col(Vendor.id))
            .limit(batch)
        )
        if profile_id is not None:
            query = query.where(col(Vendor.profile_id) == profile_id)
        if after is not None:
            query = query.where(tuple_(col(Vendor.name), col(Vendor.id)) > tuple_(*after))
        vendors = list(session.exec(query).all())
        if not vendors:
            return
        yield vendors
        after = (vendors[-1].name, vendors[-1].id or 0)


def segment_vendors(
    session: Session, segment: dict[str, Any], *, now: datetime, settings: Settings
) -> Iterator[tuple[Vendor, Verdict]]:
    """The active vendors in a segment, with their verdicts, by name: a batch of vendors
    at a time, each read from its stored verdict when that is valid today, else computed
    through the one loader of verdict inputs (so memory follows the batch, not the roster)."""
    today = org_date(now, settings)
    profile_id: int | None = None
    if segment.get("profile"):
        row = session.exec(
            select(RequirementProfile).where(RequirementProfile.name == segment["profile"])
        ).first()
        if row is None:
            raise LookupError(f"no requirement profile named {segment['profile']!r}")
        profile_id = row.id
    status = segment.get("status")
    within = segment.get("expiring_within")
    cache = ProfileCache()
    for vendors in _vendor_batches(session, profile_id):
        ids = [v.id for v in vendors if v.id is not None]
        verdicts = stored_for(session, ids, today)
        stale = [vid for vid in ids if vid not in verdicts]
        if stale:
            for vid, inputs in load_inputs(session, stale, profiles=cache).items():
                verdicts[vid] = inputs.verdict(today)
        for vendor in vendors:
            v = verdicts.get(vendor.id or 0)
            if v is None:
                continue
            if status and v.status.value != status:
                continue
            if within is not None and (
                v.next_expiration is None or (v.next_expiration - today).days > int(within)
            ):
                continue
            yield vendor, v


def run_campaign(
    session: Session, campaign: Campaign, *, now: datetime, settings: Settings
) -> list[Case]:
    """Open one case per vendor in the segment (respecting max_per_run)."""
    wf = campaign_workflow(campaign)
    assert campaign.id is not None
    campaign.runs += 1
    opened: list[Case] = []
    for vendor, _verdict in segment_vendors(session, campaign.segment, now=now, settings=settings):
        if campaign.max_per_run is not None and len(opened) >= campaign.max_per_run:
            break
        case = open_case(
            session,
            vendor,
            wf,
            now=now,
            trigger_date=org_date(now, settings),
            key=f"campaign:{campaign.id}:{campaign.runs}",
            reason=f"campaign {campaign.name!r} run {campaign.runs}",
            settings=settings,
            campaign_id=campaign.id,
        )
        if case is not None:
            opened.append(case)
    campaign.last_run_at = now
    if campaign.every_days:
        campaign.next_run_at = now + timedelta(days=campaign.every_days)
    else:
        campaign.next_run_at = None
        campaign.state = "done" if campaign.state == "active" else campaign.state
    session.add(campaign)
    session.flush()
    return opened


def run_due_campaigns(session: Session, *, now: datetime, settings: Settings) -> int:
    due = session.exec(
        select(Campaign).where(
            col(Campaign.state) == "active",
            col(Campaign.next_run_at).is_not(None),
            col(Campaign.next_run_at) <= now,
        )
    ).all()
    return sum(len(run_campaign(session, c, now=now, settings=settings)) for c in due)


def stop_campaign(session: Session, campaign: Campaign, *, now: datetime, by: str) -> int:
    campaign.state = "stopped"
    campaign.next_run_at = None
    session.add(campaign)
    cases = session.exec(
        select(Case).where(col(Case.campaign_id) == campaign.id, col(Case.state).in_(OPEN_STATES))
    ).all()
    for case in cases:
        set_state(session, case, "resolved", now=now, reason=f"campaign stopped by {by}")
    return len(cases)
