"""What templates see: one plain dict built from a vendor, its profile, verdict and case.

`build_context` is pure: `comms.context` loads what it reads (for one delivery or a whole
batch), and `comms templates check` gives it sample objects with no database. Values that may
be absent are None in the dict, so a template must test them (`{% if agent %}`); printing one
that is None is refused by the template environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import phonenumbers

from comms.compliance import Verdict
from comms.coverage import coverage_name, limit_name
from comms.models import Agent, Case, CaseEvent, Certificate, Policy, Vendor
from comms.profiles import ProfileSpec
from comms.projects import ProjectSpec
from comms.settings import Settings, address_lines

HISTORY_EVENTS = 20  # the newest events a context shows of its case


@dataclass
class ContextInputs:
    """Everything a template context is made of, already loaded."""

    vendor: Vendor
    profile: ProfileSpec
    verdict: Verdict
    now: datetime
    settings: Settings
    agent: Agent | None = None
    case: Case | None = None
    events: Sequence[CaseEvent] = ()
    certificate: Certificate | None = None
    policies: Sequence[Policy] = field(default_factory=list)
    recipient_kind: str = "vendor"
    # the parts many contexts share (`organization_view`, `profile_view`), when already built
    organization: dict[str, Any] | None = None
    profile_view: dict[str, Any] | None = None
    project: ProjectSpec | None = None  # the vendor's project, when it names one


def requirements_of(profile: ProfileSpec) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, req in profile.coverages.items():
        out.append(
            {
                "key": key,
                "name": coverage_name(key, req.label),
                "limits": [
                    {"key": lk, "name": limit_name(lk), "amount": amount}
                    for lk, amount in req.limits.items()
                ],
                "additional_insured": req.additional_insured,
                "waiver_of_subrogation": req.waiver_of_subrogation,
                "occurrence": req.occurrence,
                "primary_noncontributory": req.primary_noncontributory,
                "endorsements": list(req.endorsements),
            }
        )
    return out


def _vendor(vendor: Vendor) -> dict[str, Any]:
    return {
        "id": vendor.id,
        "name": vendor.name,
        "contact_name": vendor.contact_name,
        "greeting": vendor.contact_name or vendor.name,
        "email": vendor.email,
        "phone": vendor.phone,
        "vendor_code": vendor.vendor_code,
    }


def _agent(agent: Agent | None) -> dict[str, Any] | None:
    if agent is None:
        return None
    return {
        "id": agent.id,
        "name": agent.name,
        "agency": agent.agency,
        "greeting": agent.name,
        "email": agent.email,
        "phone": agent.phone,
    }


def policy_view(policy: Policy) -> dict[str, Any]:
    return {
        "coverage": policy.coverage,
        "name": coverage_name(policy.coverage, policy.label),
        "insurer": policy.insurer,
        "policy_number": policy.policy_number,
        "effective_date": policy.effective_date,
        "expiration_date": policy.expiration_date,
        "limits": [
            {"key": k, "name": limit_name(k), "amount": v} for k, v in (policy.limits or {}).items()
        ],
    }


def organization_view(s: Settings) -> dict[str, Any]:
    return {
        "name": s.organization_name,
        "support_email": s.support_email,
        "support_phone": s.support_phone or None,
        "client_contact_email": s.client_contact_email or None,
        "call_center_number": s.call_center_number or None,
        "call_center_hours": s.call_center_hours,
        "ivr_number": s.ivr_number or None,
        "holder": {
            "name": s.holder_name or s.organization_name,
            "address_lines": s.holder_address_lines,
        },
        "additional_insured_wording": s.additional_insured_wording,
    }


@lru_cache(maxsize=16)
def spoken_number(number: str, region: str) -> str | None:
    """A phone number as people write it: national form in the organization's region
    (`(617) 555-0142`), international elsewhere; None when there is none."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return number
    same = phonenumbers.region_code_for_number(parsed) == region
    form = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if same
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return str(phonenumbers.format_number(parsed, form))


def holder_view(
    organization: dict[str, Any], profile: ProfileSpec, project: ProjectSpec | None = None
) -> dict[str, Any]:
    """The certificate holder and the wording agents print for a vendor of `profile` working
    on `project`: each value from the project when it sets it, else from the profile, else
    the organization's (settings)."""
    sources: list[ProjectSpec | ProfileSpec] = [project, profile] if project else [profile]
    holder = next((s for s in sources if s.holder_name.strip()), None)
    if holder is not None:
        name, lines = holder.holder_name.strip(), address_lines(holder.holder_address)
    else:
        name, lines = organization["holder"]["name"], organization["holder"]["address_lines"]
    wording = next(
        (s.additional_insured_wording for s in sources if s.additional_insured_wording),
        organization["additional_insured_wording"],
    )
    description = next(
        (s.description_of_operations for s in sources if s.description_of_operations), None
    )
    return {
        "name": name,
        "address_lines": lines,
        "additional_insured_wording": wording.replace("{holder}", name),
        "description_of_operations": description,
    }


def profile_view(profile: ProfileSpec) -> dict[str, Any]:
    return {
        "name": profile.name,
        "description": profile.description,
        "expiring_within_days": profile.expiring_within_days,
        "requirements": requirements_of(profile),
    }


def build_context(inputs: ContextInputs) -> dict[str, Any]:
    """The template context from loaded objects (no database access)."""
    s = inputs.settings
    verdict = inputs.verdict
    vendor = _vendor(inputs.vendor)
    agent = _agent(inputs.agent)
    recipient = agent if inputs.recipient_kind == "agent" and agent else vendor
    deficiencies = [
        {
            "code": d.code,
            "coverage": d.coverage,
            "coverage_name": coverage_name(d.coverage) if d.coverage else "",
            "limit": d.limit,
            "message": d.message,
        }
        for d in verdict.deficiencies
    ]
    case = inputs.case
    organization = inputs.organization or organization_view(s)
    return {
        "now": inputs.now,
        "today": inputs.now.astimezone(s.zone).date(),
        "recipient_kind": inputs.recipient_kind,
        "recipient": {"name": recipient["name"], "greeting": recipient["greeting"]},
        "vendor": vendor,
        "agent": agent,
        "organization": organization,
        "profile": inputs.profile_view or profile_view(inputs.profile),
        "holder": holder_view(organization, inputs.profile, inputs.project),
        # the vendor's ID on the IVR status line, and the line's number when one is set
        "status_line": {
            "vendor_id": inputs.vendor.vendor_code,
            "number": spoken_number(s.ivr_number, s.default_region),
        },
        "verdict": {
            "status": verdict.status.value,
            "compliant": verdict.compliant,
            "as_of": verdict.as_of,
            "covered": [coverage_name(k) for k in verdict.covered],
        },
        "status": verdict.status.value,
        "deficiencies": deficiencies,
        # what blocks compliance (an expiring-soon notice is not something still missing)
        "missing": [d for d in deficiencies if d["code"] != "expiring_soon"],
        "next_expiration": verdict.next_expiration,
        "expired_since": verdict.expired_since,
        "certificate": (
            {
                "received_at": inputs.certificate.received_at,
                "status": inputs.certificate.status,
                "source": inputs.certificate.source,
                # why a received certificate does not count (set by the acknowledgment)
                "hold": None,
                "insured": None,
                "latest_expiration": None,
                "reference": inputs.certificate.reference,
                "policies": [policy_view(p) for p in inputs.policies],
            }
            if inputs.certificate is not None
            else None
        ),
        "case": (
            {
                "id": case.id,
                "trigger": case.trigger,
                "workflow": case.workflow,
                "state": case.state,
                "step_index": case.step_index,
                "trigger_date": case.trigger_date,
                "opened_at": case.created_at,
                "history": [
                    {"at": e.at, "kind": e.kind, "step": e.step, "reason": e.reason}
                    for e in inputs.events
                ],
                "contacts": sum(1 for e in inputs.events if e.kind == "step_sent"),
            }
            if case is not None
            else None
        ),
    }
