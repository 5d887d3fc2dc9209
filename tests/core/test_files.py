"""comms.files.write_atomic: the whole file or nothing, into a folder made when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from comms.files import write_atomic


def test_creates_the_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "1.eml"
    write_atomic(target, b"one")
    assert target.read_bytes() == b"one"


def test_replaces_in_an_existing_folder_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "1.eml"
    write_atomic(target, b"one", prefix=".1.")
    write_atomic(target, b"two", prefix=".1.")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["1.eml"]


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("comms.files.os.fsync", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "out" / "1.eml", b"one")
    assert list((tmp_path / "out").iterdir()) == []
