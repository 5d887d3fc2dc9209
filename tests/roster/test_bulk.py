"""The import's fast paths keep its behaviour: chunked validation, multi-line CSV cells, short
rows, repeated policies, and SQLite's index rebuild for large batches."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from comms.models import Policy, Vendor
from comms.profiles import load_profiles
from comms.roster import RosterError, bulk, validate
from tests.conftest import REPO
from tests.roster.test_import import (
    BAD_ROWS,
    GOOD_ROWS,
    HEADER,
    counts,
    do_import,
    write_csv,
)


def test_chunked_validation_reports_progress_and_every_line(
    profiles_loaded: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validate, "CHUNK", 4)  # problems straddle chunk boundaries
    path = write_csv(tmp_path / "roster.csv", BAD_ROWS[:3] + GOOD_ROWS + BAD_ROWS[3:])
    seen: list[tuple[int, int]] = []
    with pytest.raises(RosterError) as info:
        do_import(profiles_loaded, path, progress=lambda done, total: seen.append((done, total)))
    total = len(GOOD_ROWS) + len(BAD_ROWS)
    assert seen == [(n, total) for n in (4, 8, 12, total)]
    bad_lines = [2, 3, 4, *range(5 + len(GOOD_ROWS), 5 + len(GOOD_ROWS) + 3)]
    assert [p.line for p in info.value.problems] == bad_lines
    assert counts(profiles_loaded) == (0, 0, 0, 0)


def test_a_multiline_cell_keeps_line_numbers(profiles_loaded: Engine, tmp_path: Path) -> None:
    good = GOOD_ROWS[0].replace(",call first", ',"call first\nthen email"')
    path = write_csv(tmp_path / "roster.csv", [good, BAD_ROWS[0]])
    with pytest.raises(RosterError) as info:
        do_import(profiles_loaded, path)
    # Header on line 1, the good row on lines 2-3, the bad row on line 4.
    assert [(p.line, p.column) for p in info.value.problems] == [(4, "effective_date")]


def test_short_rows_and_blank_lines(profiles_loaded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        HEADER + "\n\n" + "Short Co,short@co.example\n" + " , ,\n" + GOOD_ROWS[-1] + "\n",
        encoding="utf-8",
    )
    result = do_import(profiles_loaded, path)
    assert (result.rows, result.imported_rows) == (2, 2)
    with Session(profiles_loaded) as s:
        short = s.exec(select(Vendor).where(Vendor.name == "Short Co")).one()
        assert short.email == "short@co.example"
        assert s.exec(select(Policy).where(Policy.vendor_id == short.id)).all() == []


def test_a_policy_on_two_rows_takes_the_last(profiles_loaded: Engine, tmp_path: Path) -> None:
    renewed = GOOD_ROWS[0].replace("01/15/2027", "06/30/2027")
    path = write_csv(tmp_path / "roster.csv", [GOOD_ROWS[0], renewed])
    result = do_import(profiles_loaded, path)
    assert result.policies_created == 1
    with Session(profiles_loaded) as s:
        gl = s.exec(select(Policy).where(Policy.policy_number == "GL-1")).one()
        assert gl.expiration_date == date(2027, 6, 30)
    assert not do_import(profiles_loaded, path).changed


def _indexes(db: Engine) -> list[tuple[str, str, str]]:
    with db.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
        )
        return [(t, n, s) for t, n, s in rows]


def test_sqlite_rebuilds_plain_indexes_of_a_large_batch(
    sqlite_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(sqlite_db) as s:
        load_profiles(s, REPO / "config" / "requirements")
        s.commit()
    before = _indexes(sqlite_db)
    dropped: list[str] = []
    real_plain = bulk.BulkInsert._plain_indexes

    def spy(self: bulk.BulkInsert) -> list[tuple[str, str]]:
        found = real_plain(self)
        dropped.extend(name for name, _ in found)
        return found

    monkeypatch.setattr(bulk, "REBUILD_INDEXES_FROM", 1)
    monkeypatch.setattr(bulk.BulkInsert, "_plain_indexes", spy)
    path = write_csv(tmp_path / "roster.csv", GOOD_ROWS)
    do_import(sqlite_db, path)
    assert "ix_policy_expiration_date" in dropped and "ix_vendor_email" in dropped
    assert not any(name.startswith("sqlite_autoindex") for name in dropped)  # unique: kept
    assert _indexes(sqlite_db) == before  # the same indexes, built again
    assert counts(sqlite_db) == (5, 2, 4, 8)
    with sqlite_db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    # A batch smaller than what the table holds keeps its indexes.
    dropped.clear()
    do_import(sqlite_db, write_csv(tmp_path / "more.csv", [GOOD_ROWS[0].replace("GL-1", "GL-2")]))
    assert "ix_policy_expiration_date" not in dropped


def test_rebuild_only_on_sqlite_for_large_batches(db: Engine) -> None:
    with Session(db) as s:
        insert = bulk.BulkInsert(s.connection(), SQLModel.metadata.tables["policy"], ["id"])
        sqlite = db.dialect.name == "sqlite"
        assert insert._rebuild_indexes(bulk.REBUILD_INDEXES_FROM) is sqlite
        assert insert._rebuild_indexes(bulk.REBUILD_INDEXES_FROM - 1) is False
