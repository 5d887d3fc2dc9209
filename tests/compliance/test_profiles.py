from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms.app.cli import app
from comms.models import RequirementProfile
from comms.profiles import load_profiles, read_profile
from comms.yamlload import DataFileError

ISSUE_EXAMPLE = """\
name: standard
expiring_within_days: 30
coverages:
  general_liability:
    limits: {each_occurrence: 1000000, general_aggregate: 2000000}
    additional_insured: true
  automobile_liability:
    limits: {combined_single_limit: 1000000}
  workers_compensation:
    limits: {el_each_accident: 500000}
    waiver_of_subrogation: true
"""


def test_issue_example_form_loads(tmp_path: Path) -> None:
    path = tmp_path / "standard.yaml"
    path.write_text(ISSUE_EXAMPLE)
    spec = read_profile(path)
    assert spec.coverages["general_liability"].limits["each_occurrence"] == 1_000_000
    assert spec.coverages["workers_compensation"].waiver_of_subrogation is True


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        (
            "each_occurrence: 1000000,",
            "each_occurence: 1000000,",
            5,
            "coverages.general_liability.limits.each_occurence",
        ),
        ("automobile_liability:", "auto_liability:", 7, "coverages.auto_liability"),
        (
            "combined_single_limit: 1000000",
            "combined_single_limit: lots",
            8,
            "coverages.automobile_liability.limits.combined_single_limit",
        ),
        (
            "waiver_of_subrogation: true",
            "waiver: true",
            11,
            "coverages.workers_compensation.waiver",
        ),
        ("expiring_within_days: 30", "expiring_within_days: -3", 2, "expiring_within_days"),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(ISSUE_EXAMPLE.replace(old, new))
    with pytest.raises(DataFileError) as info:
        read_profile(path)
    err = info.value
    assert (err.path, err.field) == (str(path), field)
    assert err.line == line, str(err)
    assert str(err).startswith(f"{path}:{line}: {field}: ")


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ncoverages:\n  general_liability: [\n")
    with pytest.raises(DataFileError) as info:
        read_profile(path)
    assert info.value.line is not None and "invalid YAML" in str(info.value)


def test_load_folder_is_idempotent_and_updates(db: Engine, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(ISSUE_EXAMPLE)
    with Session(db) as s:
        load_profiles(s, tmp_path)
        load_profiles(s, tmp_path)
        s.commit()
    (tmp_path / "a.yaml").write_text(
        ISSUE_EXAMPLE.replace("expiring_within_days: 30", "expiring_within_days: 45")
    )
    with Session(db) as s:
        load_profiles(s, tmp_path)
        s.commit()
        rows = s.exec(select(RequirementProfile)).all()
    assert [(r.name, r.expiring_within_days) for r in rows] == [("standard", 45)]


def test_cli_profiles_load_error(use_db: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(ISSUE_EXAMPLE.replace("automobile_liability:", "auto:"))
    result = CliRunner().invoke(app, ["profiles", "load", str(path)])
    assert result.exit_code == 2
    assert f"{path}:7: coverages.auto:" in result.output
