"""The suite, the benchmarks and the packages read nothing outside the repository: a fresh
clone in any folder (with no `../shared` beside it) holds everything they need."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SELF = Path(__file__).name  # this file spells the patterns it looks for
SCANNED = ("tests", "bench", "scripts", "comms", "workflows", "inbound", "telephony")
SUFFIXES = {".py", ".sh", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".json"}
# A path into somebody's machine: a home or work folder, or the steering repo's shared folder.
OUTSIDE = re.compile(
    r"""(?x)
    ["'](?:/work|/home|/root|/Users|/mnt|/srv)/     # an absolute path into a user's tree
    | \.\./shared\b                                # the folder beside the clone
    | parents?\W*\d*\W*/\s*["']shared["']          # Path(...).parent / "shared"
    """
)


def _clone(dest: Path) -> Path:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(dest)],
        check=True,
        capture_output=True,
    )
    return dest


def offending_lines(root: Path) -> list[str]:
    found = []
    for folder in SCANNED:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file() or path.name == SELF:
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if OUTSIDE.search(line):
                    found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_the_pattern_catches_what_it_must() -> None:
    for bad in (
        'SAMPLES = Path("/work/shared/samples/acord25")',
        'SAMPLES = (REPO.parent / "shared" / "samples")',
        "cp ../shared/samples/x .",
        "open('/home/ann/coi.pdf')",
    ):
        assert OUTSIDE.search(bad), bad
    for good in ('Path("/usr/bin/chromium")', 'REPO / "tests" / "samples"', "tmp_path / 'x'"):
        assert not OUTSIDE.search(good), good


def test_a_clone_names_nothing_outside_itself(tmp_path: Path) -> None:
    clone = _clone(tmp_path / "elsewhere" / "coi-comms")
    assert offending_lines(clone) == []
    # the real samples the tests read travel with the clone, with their attribution
    samples = clone / "tests" / "samples" / "acord25"
    assert (samples / "README.md").read_text().count("MIT License") == 3
    assert sorted(p.name for p in samples.glob("*.pdf")) == [
        "acord_25_2010_05_2014_01_sample.pdf",
        "acord_25_2016_03_altech_encrypted.pdf",
        "acord_25_2016_03_pdffiller_sample.pdf",
        "acord_25_2016_03_sample.pdf",
    ]


def test_the_working_tree_names_nothing_outside_itself() -> None:
    # the same check on uncommitted work, so it fails before a commit does
    assert offending_lines(REPO) == []
