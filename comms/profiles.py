"""Requirement profiles: YAML files in `config/requirements/`, validated on load."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlmodel import Session, select

from comms.coverage import COVERAGE_KEYS, LIMIT_KEYS
from comms.models import RequirementProfile
from comms.timeutil import utcnow
from comms.yamlload import DataFileError, validate_file

CoverageKey = Literal[
    "general_liability",
    "automobile_liability",
    "umbrella_liability",
    "excess_liability",
    "workers_compensation",
    "other",
]
LimitKey = Literal[
    "each_occurrence",
    "damage_to_rented_premises",
    "medical_expense",
    "personal_advertising_injury",
    "general_aggregate",
    "products_completed_operations_aggregate",
    "combined_single_limit",
    "bodily_injury_per_person",
    "bodily_injury_per_accident",
    "property_damage",
    "aggregate",
    "el_each_accident",
    "el_disease_each_employee",
    "el_disease_policy_limit",
]


class CoverageRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limits: dict[LimitKey, int] = Field(default_factory=dict)
    additional_insured: bool = False
    waiver_of_subrogation: bool = False
    occurrence: bool = False  # True: claims-made is not acceptable
    # asked of the agent (the certificate's remarks); not read back from a certificate
    primary_noncontributory: bool = False
    endorsements: list[str] = Field(default_factory=list)  # e.g. ["CG 20 10", "CG 20 37"]
    label: str | None = None  # for coverage "other"

    @field_validator("limits")
    @classmethod
    def _non_negative(cls, value: dict[str, int]) -> dict[str, int]:
        for key, amount in value.items():
            if amount < 0:
                raise ValueError(f"limit {key!r} must not be negative")
        return value


class ProfileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    expiring_within_days: int = Field(default=30, ge=0, le=365)
    coverages: dict[CoverageKey, CoverageRequirement] = Field(default_factory=dict)
    # what agents print on the certificate for vendors of this profile; empty: the settings'
    holder_name: str = ""
    holder_address: str = ""  # lines separated by newlines or `;`
    additional_insured_wording: str = ""  # {holder} is the holder's name
    description_of_operations: str = ""  # the certificate's "description of operations" box

    @model_validator(mode="after")
    def _holder_whole(self) -> ProfileSpec:
        if bool(self.holder_name.strip()) != bool(self.holder_address.strip()):
            raise ValueError("holder_name and holder_address go together: set both or neither")
        return self


def read_profile(path: Path) -> ProfileSpec:
    return validate_file(ProfileSpec, path)


def profile_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    if not path.exists():
        raise DataFileError(str(path), None, None, "no such file or folder")
    return [path]


def read_profiles(path: Path) -> list[ProfileSpec]:
    """Read and validate every profile in a file or folder; the first error stops it."""
    specs = [read_profile(p) for p in profile_files(path)]
    seen: set[str] = set()
    for spec, file in zip(specs, profile_files(path), strict=True):
        if spec.name in seen:
            raise DataFileError(str(file), 1, "name", f"duplicate profile name {spec.name!r}")
        seen.add(spec.name)
    return specs


def save_profile(
    session: Session, spec: ProfileSpec, *, source: str | None = None, now: datetime | None = None
) -> RequirementProfile:
    """Insert or update a profile by name (`now`, the time it is recorded as updated, defaults
    to the clock: loading a profile is an entry point, not a step of simulated time)."""
    row = session.exec(
        select(RequirementProfile).where(RequirementProfile.name == spec.name)
    ).first()
    data: dict[str, Any] = spec.model_dump(mode="json")
    if row is None:
        row = RequirementProfile(name=spec.name)
    if row.expiring_within_days != spec.expiring_within_days:
        row.expiring_within_days = spec.expiring_within_days
    if row.spec != data:  # unchanged requirements leave its vendors' verdicts alone
        row.spec = data
    row.source_path = source
    row.updated_at = now or utcnow()
    session.add(row)
    session.flush()
    return row


def load_profiles(
    session: Session, path: Path, *, now: datetime | None = None
) -> list[RequirementProfile]:
    return [save_profile(session, spec, source=str(path), now=now) for spec in read_profiles(path)]


def spec_of(row: RequirementProfile) -> ProfileSpec:
    return ProfileSpec.model_validate(row.spec)


assert set(CoverageKey.__args__) == set(COVERAGE_KEYS)  # type: ignore[attr-defined]
assert set(LimitKey.__args__) == set(LIMIT_KEYS)  # type: ignore[attr-defined]
