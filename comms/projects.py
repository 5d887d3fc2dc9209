"""Projects: YAML files in `config/projects/`, each naming what agents print on the
certificates of the vendors working on it. A project's values win over the vendor's
requirement profile's, which win over the settings' (see `context_view.holder_view`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session, col, select

from comms.models import Project
from comms.profiles import profile_files
from comms.timeutil import utcnow
from comms.yamlload import DataFileError, validate_file


class ProjectSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""  # for staff; agents never see it
    # empty: the vendor's profile's, else the settings'
    holder_name: str = ""
    holder_address: str = ""  # lines separated by newlines or `;`
    additional_insured_wording: str = ""  # {holder} is the holder's name
    description_of_operations: str = ""  # the certificate's "description of operations" box

    @model_validator(mode="after")
    def _holder_whole(self) -> ProjectSpec:
        if bool(self.holder_name.strip()) != bool(self.holder_address.strip()):
            raise ValueError("holder_name and holder_address go together: set both or neither")
        return self


def read_projects(path: Path) -> list[ProjectSpec]:
    """Read and validate every project in a file or folder; the first error stops it."""
    files = profile_files(path)
    specs = [validate_file(ProjectSpec, f) for f in files]
    seen: set[str] = set()
    for spec, file in zip(specs, files, strict=True):
        if spec.name in seen:
            raise DataFileError(str(file), 1, "name", f"duplicate project name {spec.name!r}")
        seen.add(spec.name)
    return specs


def save_project(
    session: Session, spec: ProjectSpec, *, source: str | None = None, now: datetime | None = None
) -> Project:
    """Insert or update a project by name."""
    row = session.exec(select(Project).where(Project.name == spec.name)).first()
    data: dict[str, Any] = spec.model_dump(mode="json")
    if row is None:
        row = Project(name=spec.name)
    if row.spec != data:
        row.spec = data
    row.source_path = source
    row.updated_at = now or utcnow()
    session.add(row)
    session.flush()
    return row


def load_projects(session: Session, path: Path, *, now: datetime | None = None) -> list[Project]:
    return [save_project(session, spec, source=str(path), now=now) for spec in read_projects(path)]


def project_names(session: Session) -> set[str]:
    return set(session.exec(select(col(Project.name))).all())


def project_specs(session: Session, names: set[str]) -> dict[str, ProjectSpec]:
    if not names:
        return {}
    rows = session.exec(select(Project).where(col(Project.name).in_(sorted(names)))).all()
    return {row.name: ProjectSpec.model_validate(row.spec) for row in rows}
