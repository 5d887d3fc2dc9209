"""Template contexts from the database: one loader for many deliveries or for one.

`context_builders` loads, for a list of requests (vendor, case, moment, recipient), the
vendors, agents, profiles, accepted certificates with their policies, cases and case
histories in one query each, however many requests there are; each context is then built by
`comms.context_view.build_context`. The dispatcher renders the rows it claims this way, and
`template_context` is the same loader asked for one vendor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, SQLModel, col, select

from comms.compliance import Verdict, evaluate
from comms.context_view import (
    HISTORY_EVENTS,
    ContextInputs,
    build_context,
    organization_view,
    profile_view,
)
from comms.errors import PermanentError
from comms.models import Agent, Case, CaseEvent, Certificate, Policy, RequirementProfile, Vendor
from comms.profiles import ProfileSpec, spec_of
from comms.projects import ProjectSpec, project_specs
from comms.settings import Settings, get_settings
from comms.stored_verdicts import stored_for
from comms.verdict_inputs import COUNTING_STATUSES, EMPTY_PROFILE, VerdictInputs, load_inputs

CHUNK = 500  # ids per IN list
M = TypeVar("M", bound=SQLModel)


@dataclass(frozen=True)
class ContextRequest:
    """The context of `vendor_id` (and `case_id`) as of `as_of`, addressed to `recipient_kind`."""

    vendor_id: int
    as_of: datetime
    case_id: int | None = None
    recipient_kind: str = "vendor"
    verdict: Verdict | None = None  # the caller's, instead of the one computed as of `as_of`


class VendorGone(PermanentError, LookupError):
    """The request's vendor no longer exists."""

    code = "vendor_gone"


def _chunks(ids: set[int]) -> list[list[int]]:
    ordered = sorted(ids)
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


def _by_id(session: Session, model: type[M], ids: set[int]) -> dict[int, M]:
    out: dict[int, M] = {}
    key = col(model.id)  # type: ignore[attr-defined]
    for chunk in _chunks(ids):
        for row in session.exec(select(model).where(key.in_(chunk))).all():
            out[row.id] = row  # type: ignore[attr-defined]
    return out


@dataclass
class _Loaded:
    vendors: dict[int, Vendor]
    agents: dict[int, Agent]
    profiles: dict[int, ProfileSpec]
    inputs: dict[int, VerdictInputs]  # of the vendors with no stored verdict for a day asked
    verdicts: dict[tuple[int, date], Verdict]  # stored, by vendor and day
    latest: dict[int, Certificate]
    latest_policies: dict[int, list[Policy]]
    cases: dict[int, Case]
    events: dict[int, list[CaseEvent]]
    projects: dict[str, ProjectSpec]


def _load(
    session: Session,
    requests: Sequence[ContextRequest],
    *,
    settings: Settings,
    vendors: dict[int, Vendor] | None = None,
    cases: dict[int, Case] | None = None,
) -> _Loaded:
    """What the contexts of `requests` read; `vendors` and `cases` the caller holds already
    (as it holds them: they are not read again). The stored verdicts that hold on the
    requests' days are read; verdict inputs only for the vendors that need one computed."""
    known = dict(vendors or {})
    vendors = {**_by_id(session, Vendor, {r.vendor_id for r in requests} - set(known)), **known}
    agents = _by_id(session, Agent, {v.agent_id for v in vendors.values() if v.agent_id})
    profile_rows = _by_id(
        session, RequirementProfile, {v.profile_id for v in vendors.values() if v.profile_id}
    )
    profiles = {pid: spec_of(row) for pid, row in profile_rows.items()}
    projects = project_specs(session, {v.project for v in vendors.values() if v.project})

    verdicts: dict[tuple[int, date], Verdict] = {}
    wanted: dict[date, set[int]] = defaultdict(set)  # the days a verdict is asked for
    for r in requests:
        if r.verdict is None and r.vendor_id in vendors:
            wanted[r.as_of.astimezone(settings.zone).date()].add(r.vendor_id)
    for day, ids in wanted.items():
        for vendor_id, stored in stored_for(session, ids, day).items():
            verdicts[(vendor_id, day)] = stored
    inputs = load_inputs(
        session, {i for day, ids in wanted.items() for i in ids if (i, day) not in verdicts}
    )
    latest: dict[int, Certificate] = {}  # the newest certificate that counts (if any)
    for chunk in _chunks(set(vendors)):
        # the status is tested here: with it in SQL, SQLite walks the status index instead
        for cert in session.exec(
            select(Certificate)
            .where(col(Certificate.vendor_id).in_(chunk))
            .order_by(col(Certificate.received_at).desc(), col(Certificate.id).desc())
        ).all():
            if cert.status in COUNTING_STATUSES:
                latest.setdefault(cert.vendor_id, cert)
    latest_policies: dict[int, list[Policy]] = defaultdict(list)
    for chunk in _chunks({c.id for c in latest.values() if c.id is not None}):
        for policy in session.exec(
            select(Policy).where(col(Policy.certificate_id).in_(chunk)).order_by(col(Policy.id))
        ).all():
            latest_policies[policy.certificate_id].append(policy)

    held = dict(cases or {})
    case_ids = {r.case_id for r in requests if r.case_id is not None} - set(held)
    cases = {**_by_id(session, Case, case_ids), **held}
    events: dict[int, list[CaseEvent]] = defaultdict(list)
    for chunk in _chunks(set(cases)):
        rank = (
            func.row_number()
            .over(
                partition_by=col(CaseEvent.case_id),
                order_by=(col(CaseEvent.at).desc(), col(CaseEvent.id).desc()),
            )
            .label("rank")
        )
        newest = (
            select(col(CaseEvent.id).label("id"), rank)
            .where(col(CaseEvent.case_id).in_(chunk))
            .subquery()
        )
        for event in session.exec(
            select(CaseEvent)
            .join(newest, newest.c.id == col(CaseEvent.id))
            .where(newest.c.rank <= HISTORY_EVENTS)
            .order_by(col(CaseEvent.case_id), col(CaseEvent.at), col(CaseEvent.id))
        ).all():
            events[event.case_id].append(event)
    return _Loaded(
        vendors=vendors,
        agents=agents,
        profiles=profiles,
        inputs=inputs,
        verdicts=verdicts,
        latest=latest,
        latest_policies=latest_policies,
        cases=cases,
        events=events,
        projects=projects,
    )


Builder = Callable[[], dict[str, Any]]


def context_builders(
    session: Session,
    requests: Sequence[ContextRequest],
    *,
    settings: Settings,
    vendors: dict[int, Vendor] | None = None,
    cases: dict[int, Case] | None = None,
) -> list[Builder | VendorGone]:
    """For each request, in order, a function that builds its template context from what
    one load for all of them read (or `VendorGone`): the database work happens here, the
    per-row work when a row is rendered. A vendor's verdict is computed once per day.
    `vendors` and `cases` by id: objects the caller holds, used as they are."""
    if not requests:
        return []
    loaded = _load(session, requests, settings=settings, vendors=vendors, cases=cases)
    # the stored verdicts that hold on the requests' days (kept equal to a fresh computation);
    # the others are computed from the loaded inputs when a context is built
    verdicts = loaded.verdicts
    views: dict[int, dict[str, Any]] = {}  # by id(profile): one for every context
    organization = organization_view(settings)

    def builder(request: ContextRequest, vendor: Vendor) -> Builder:
        def build() -> dict[str, Any]:
            assert vendor.id is not None
            profile = (
                loaded.profiles.get(vendor.profile_id, EMPTY_PROFILE)
                if vendor.profile_id is not None
                else EMPTY_PROFILE
            )
            day = request.as_of.astimezone(settings.zone).date()
            verdict = request.verdict or verdicts.get((vendor.id, day))
            if verdict is None:
                inputs = loaded.inputs.get(vendor.id)
                verdict = verdicts[(vendor.id, day)] = (
                    inputs.verdict(day)
                    if inputs is not None
                    else evaluate([], profile, day, has_certificate=False)
                )
            view = views.get(id(profile))
            if view is None:
                view = views[id(profile)] = profile_view(profile)
            certificate = loaded.latest.get(vendor.id)
            case = loaded.cases.get(request.case_id) if request.case_id is not None else None
            return build_context(
                ContextInputs(
                    vendor=vendor,
                    profile=profile,
                    verdict=verdict,
                    now=request.as_of,
                    settings=settings,
                    agent=loaded.agents.get(vendor.agent_id) if vendor.agent_id else None,
                    case=case,
                    events=loaded.events.get(case.id, []) if case and case.id else [],
                    certificate=certificate,
                    policies=(
                        loaded.latest_policies.get(certificate.id, [])
                        if certificate is not None and certificate.id is not None
                        else []
                    ),
                    recipient_kind=request.recipient_kind,
                    organization=organization,
                    profile_view=view,
                    project=loaded.projects.get(vendor.project) if vendor.project else None,
                )
            )

        return build

    out: list[Builder | VendorGone] = []
    for request in requests:
        vendor = loaded.vendors.get(request.vendor_id)
        if vendor is None or vendor.id is None:
            out.append(VendorGone(f"vendor {request.vendor_id} is gone"))
        else:
            out.append(builder(request, vendor))
    return out


def template_contexts(
    session: Session, requests: Sequence[ContextRequest], *, settings: Settings
) -> list[dict[str, Any] | VendorGone]:
    """The template context of each request, in order; `VendorGone` where its vendor is gone."""
    return [
        item if isinstance(item, VendorGone) else item()
        for item in context_builders(session, requests, settings=settings)
    ]


def template_context(
    session: Session,
    vendor: Vendor,
    *,
    now: datetime,
    case: Case | None = None,
    verdict: Verdict | None = None,
    recipient_kind: str = "vendor",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The template context of one vendor (and case) at `now`: the loader above, for one."""
    s = settings or get_settings()
    if vendor.id is None:
        raise VendorGone("the vendor is not stored")
    request = ContextRequest(
        vendor_id=vendor.id,
        as_of=now,
        case_id=case.id if case is not None else None,
        recipient_kind=recipient_kind,
        verdict=verdict,
    )
    (built,) = context_builders(
        session,
        [request],
        settings=s,
        vendors={vendor.id: vendor},
        cases={case.id: case} if case is not None and case.id is not None else None,
    )
    if isinstance(built, VendorGone):
        raise built
    return built()
