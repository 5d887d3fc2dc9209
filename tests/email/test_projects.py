"""A vendor's project names what its agent prints on the certificate: the project's holder,
wording and description of operations win over the profile's, which win over the settings'."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.context import template_context
from comms.models import Vendor
from comms.profiles import load_profiles
from comms.projects import load_projects
from comms.roster import RosterError, import_roster
from comms.settings import get_settings, reset_settings_cache
from comms.templating import render_email

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
HEADER = (
    "Vendor Name,Vendor E-mail,Agent Name,Agent Email,Profile,Project,Coverage,Insurer,"
    "Policy Number,Effective Date,Expiration Date,Each Occurrence,General Aggregate\n"
)
PROJECT = """\
name: pier-7
holder_name: Pier Seven Owner LLC
holder_address: "1 Pier Seven Way; Suite 3; Portland, ME 04101"
description_of_operations: "Re: Pier 7 marina rebuild, 1 Pier Seven Way."
additional_insured_wording: "{holder} and its lenders are additional insureds"
"""
# the example profile `standard` asks for additional insured on general liability
ROWS = (
    "Pier Builders,ops@pier.example,Ann Agent,ann@agency.example,standard,pier-7,"
    "General Liability,Travelers,GL-1,01/01/2026,01/01/2027,1000000,2000000\n"
    "Plain Painting,ops@plain.example,Bob Agent,bob@agency.example,standard,,"
    "General Liability,Travelers,GL-2,01/01/2026,01/01/2027,1000000,2000000\n"
)


@pytest.fixture
def session(sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    monkeypatch.setenv("COMMS_CONFIG", str(REPO / "config" / "comms.example.toml"))
    reset_settings_cache()
    with Session(sqlite_db, expire_on_commit=False) as s:
        load_profiles(s, REPO / "config" / "requirements", now=NOW)
        yield s
    reset_settings_cache()


def _projects(tmp_path: Path) -> Path:
    folder = tmp_path / "projects"
    folder.mkdir()
    (folder / "pier-7.yaml").write_text(PROJECT)
    return folder


def _agent_request(session: Session, name: str) -> str:
    vendor = session.exec(select(Vendor).where(Vendor.name == name)).one()
    ctx = template_context(
        session, vendor, now=NOW, recipient_kind="agent", settings=get_settings()
    )
    out = render_email("certificate_request", ctx)
    return f"{out.subject}\n{out.text}"


def test_project_holder_and_description_win(session: Session, tmp_path: Path) -> None:
    load_projects(session, _projects(tmp_path), now=NOW)
    roster = tmp_path / "roster.csv"
    roster.write_text(HEADER + ROWS)
    import_roster(session, roster, now=NOW)
    session.commit()
    stored = session.exec(select(Vendor).where(Vendor.name == "Pier Builders")).one()
    assert stored.project == "pier-7"

    text = _agent_request(session, "Pier Builders")
    assert "Named insured: Pier Builders" in text
    assert (
        "    Pier Seven Owner LLC\n    1 Pier Seven Way\n    Suite 3\n    Portland, ME 04101"
        in text
    )
    assert "Additional insured: Pier Seven Owner LLC and its lenders are additional insureds" in (
        text
    )
    assert "Description of operations: Re: Pier 7 marina rebuild, 1 Pier Seven Way." in text
    assert "Harborview" not in text.split("Coverages and limits:")[0].split("Named insured")[1]

    assert "Pier Seven Owner LLC named as additional insured" in text

    # a vendor on no project keeps the settings' holder (the profile `standard` names none)
    # and the profile's description of operations
    plain = _agent_request(session, "Plain Painting")
    settings = get_settings()
    assert f"    {settings.holder_name}\n" in plain
    assert "Pier Seven" not in plain
    assert "Description of operations: Re: all work performed by the named insured" in plain


def test_project_overrides_the_profile_field_by_field(session: Session, tmp_path: Path) -> None:
    from comms.context_view import holder_view, organization_view
    from comms.profiles import ProfileSpec
    from comms.projects import ProjectSpec

    organization = organization_view(get_settings())
    profile = ProfileSpec(
        name="p",
        holder_name="Profile Holder",
        holder_address="2 Profile St; Town",
        description_of_operations="profile ops",
        additional_insured_wording="{holder} from the profile",
    )
    only_description = ProjectSpec(name="x", description_of_operations="project ops")
    view = holder_view(organization, profile, only_description)
    assert (view["name"], view["address_lines"]) == ("Profile Holder", ["2 Profile St", "Town"])
    assert view["description_of_operations"] == "project ops"
    assert view["additional_insured_wording"] == "Profile Holder from the profile"
    whole = ProjectSpec(name="y", holder_name="Project Holder", holder_address="9 Road; City")
    view = holder_view(organization, profile, whole)
    assert (view["name"], view["address_lines"]) == ("Project Holder", ["9 Road", "City"])
    assert view["additional_insured_wording"] == "Project Holder from the profile"
    assert view["description_of_operations"] == "profile ops"
    assert holder_view(organization, profile, None)["name"] == "Profile Holder"


def test_unknown_project_is_refused_with_its_line(session: Session, tmp_path: Path) -> None:
    load_projects(session, _projects(tmp_path), now=NOW)
    roster = tmp_path / "roster.csv"
    roster.write_text(HEADER + ROWS.replace(",pier-7,", ",pier-8,"))
    with pytest.raises(RosterError) as info:
        import_roster(session, roster, now=NOW)
    assert info.value.lines() == [f"{roster}:2: project: unknown project 'pier-8' (known: pier-7)"]
    assert session.exec(select(Vendor)).all() == []
