"""Sample data for previewing and checking templates without a database.

`templates/email/_samples.yaml` describes fake vendors (with agents and policies) and a
requirement profile; each is evaluated with `comms.compliance.evaluate` and turned into a
template context by `comms.context.build_context`, exactly as real sends are.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from comms.compliance import PolicyFacts, evaluate
from comms.context_view import ContextInputs, build_context
from comms.models import Agent, Certificate, Policy, Vendor
from comms.profiles import ProfileSpec
from comms.settings import Settings
from comms.templating import templates_dir
from comms.yamlload import validate_file

SAMPLES_FILE = "email/_samples.yaml"


class SampleVendor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    contact_name: str | None = None
    email: str
    phone: str | None = None
    vendor_code: str | None = None  # the vendor's ID on the IVR status line


class SampleAgent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    agency: str | None = None
    email: str | None = None


class SamplePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    coverage: str
    policy_number: str | None = None
    insurer: str | None = None
    effective_date: date | None = None
    expiration_date: date | None = None
    limits: dict[str, int] = Field(default_factory=dict)
    additional_insured: bool | None = None
    subrogation_waived: bool | None = None
    endorsements: list[str] = Field(default_factory=list)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vendor: SampleVendor
    agent: SampleAgent | None = None
    policies: list[SamplePolicy] = Field(default_factory=list)


class SampleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: date
    profile: ProfileSpec
    scenarios: dict[str, Scenario]
    templates: dict[str, list[str]]

    @model_validator(mode="after")
    def _known_scenarios(self) -> SampleFile:
        for name, used in self.templates.items():
            for scenario in used:
                if scenario not in self.scenarios:
                    raise ValueError(f"templates.{name}: unknown scenario {scenario!r}")
        return self


def load_samples(folder: Path | None = None) -> SampleFile:
    return validate_file(SampleFile, (folder or templates_dir()) / SAMPLES_FILE)


def sample_context(
    samples: SampleFile,
    scenario_name: str,
    *,
    settings: Settings,
    recipient_kind: str = "vendor",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The template context of one scenario, as of the sample date (or `now`)."""
    scenario = samples.scenarios[scenario_name]
    when = now or datetime.combine(samples.as_of, time(14, 0), tzinfo=UTC)
    as_of = when.astimezone(settings.zone).date()
    vendor = Vendor(
        id=1,
        name=scenario.vendor.name,
        contact_name=scenario.vendor.contact_name,
        email=scenario.vendor.email,
        phone=scenario.vendor.phone,
        vendor_code=scenario.vendor.vendor_code,
    )
    agent = (
        Agent(
            id=1, name=scenario.agent.name, agency=scenario.agent.agency, email=scenario.agent.email
        )
        if scenario.agent
        else None
    )
    received = when
    facts = [
        PolicyFacts(
            coverage=p.coverage,
            effective=p.effective_date,
            expiration=p.expiration_date,
            limits=dict(p.limits),
            additional_insured=p.additional_insured,
            subrogation_waived=p.subrogation_waived,
            policy_number=p.policy_number,
            received_at=received,
            endorsements=tuple(p.endorsements),
        )
        for p in scenario.policies
    ]
    verdict = evaluate(facts, samples.profile, as_of)
    certificate = (
        Certificate(id=1, vendor_id=1, received_at=received, reference="sample.pdf", source="email")
        if scenario.policies
        else None
    )
    policies = [
        Policy(
            certificate_id=1,
            vendor_id=1,
            coverage=p.coverage,
            insurer=p.insurer,
            policy_number=p.policy_number,
            effective_date=p.effective_date,
            expiration_date=p.expiration_date,
            limits=dict(p.limits),
        )
        for p in scenario.policies
    ]
    return build_context(
        ContextInputs(
            vendor=vendor,
            profile=samples.profile,
            verdict=verdict,
            now=when,
            settings=settings,
            agent=agent,
            certificate=certificate,
            policies=policies,
            recipient_kind=recipient_kind,
        )
    )
