"""The import reads, validates and writes a roster a chunk at a time and is still all or
nothing: a bad row late in a file (after many chunks were read and staged) writes nothing,
and a failure while writing leaves what was on file as it was. Rows of one vendor far apart
in the file (in different chunks) still make one vendor."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms.models import Policy, Vendor
from comms.roster import RosterError, importer, validate
from tests.roster.test_import import GOOD_ROWS, HEADER, counts, do_import, write_csv

COLUMNS = HEADER.split(",")


def _row(**cells: str) -> list[str]:
    return [cells.get(c, "") for c in COLUMNS]


def _roster(path: Path, vendors: int, *, bad_at: int | None = None) -> tuple[Path, int]:
    """`vendors` vendors of four policies each; with a bad expiration date on data row
    `bad_at` (then also its file line)."""
    rows = []
    for v in range(vendors):
        for c, coverage in enumerate(("General Liability", "Auto", "Workers Comp", "Umbrella")):
            rows.append(
                _row(
                    **{
                        "Vendor Name": f"Vendor {v:05d} LLC",
                        "Vendor E-mail": f"ops{v}@vendor{v}.example",
                        "VENDOR PHONE": f"212-555-{v % 10000:04d}",
                        "agent name": f"Agent {v // 20}",
                        "Agent_Email": f"agent{v // 20}@agency.example",
                        "Profile": "standard",
                        "Coverage": coverage,
                        "Insurer": "Travelers",
                        "Policy #": f"P-{v}-{c}",
                        "Effective Date": "2026-01-01",
                        "Expiration Date": "2027-01-01",
                        "Each Occurrence": "1000000",
                    }
                )
            )
    line = None
    if bad_at is not None:
        rows[bad_at - 1][COLUMNS.index("Expiration Date")] = "31/31/2027"
        line = bad_at + 1  # the header is line 1
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(rows)
    return path, line or 0


def _snapshot(db: Engine) -> tuple[object, ...]:
    with db.connect() as conn:
        vendors = conn.execute(
            text("SELECT id, name, email, phone, updated_at FROM vendor ORDER BY id")
        ).all()
        verdicts = conn.execute(
            text("SELECT vendor_id, status FROM vendor_verdict ORDER BY vendor_id")
        ).all()
        changes = conn.execute(text("SELECT count(*) FROM verdict_change")).scalar_one()
    return counts(db), vendors, verdicts, changes


def test_a_bad_row_late_in_a_file_writes_nothing(
    profiles_loaded: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    do_import(profiles_loaded, write_csv(tmp_path / "first.csv", GOOD_ROWS))
    before = _snapshot(profiles_loaded)
    monkeypatch.setattr(validate, "CHUNK", 97)  # 2,400 rows: the bad one in the 23rd chunk
    path, line = _roster(tmp_path / "roster.csv", 600, bad_at=2160)
    with pytest.raises(RosterError) as info:
        do_import(profiles_loaded, path)
    assert info.value.lines() == [
        f"{path}:{line}: expiration_date: not a real date: '31/31/2027' (month must be in 1..12)"
    ]
    assert _snapshot(profiles_loaded) == before
    # Nothing of the failed import is left behind: the same file, mended, imports whole.
    good, _ = _roster(tmp_path / "good.csv", 600)
    result = do_import(profiles_loaded, good)
    assert (result.vendors_created, result.policies_created) == (600, 2400)
    assert counts(profiles_loaded)[0] == 5 + 600


def test_a_failure_while_writing_leaves_the_roster_as_it_was(
    profiles_loaded: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    do_import(profiles_loaded, write_csv(tmp_path / "first.csv", GOOD_ROWS))
    before = _snapshot(profiles_loaded)
    monkeypatch.setattr(importer, "VENDORS_PER_BATCH", 50)
    monkeypatch.setattr(importer, "ANALYZE_FROM", 1)  # PostgreSQL: ANALYZE inside it too
    written: list[int] = []
    real_refresh = importer.refresh

    def failing_refresh(session: Session, ids: set[int], **kw: object) -> object:
        written.append(len(ids))
        if len(written) == 5:  # the fifth batch: 200 vendors are already written
            raise RuntimeError("the database went away")
        return real_refresh(session, ids, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(importer, "refresh", failing_refresh)
    path, _ = _roster(tmp_path / "roster.csv", 300)
    with pytest.raises(RuntimeError):
        do_import(profiles_loaded, path)
    assert written == [50] * 5
    assert _snapshot(profiles_loaded) == before


def test_one_vendors_rows_in_different_chunks_make_one_vendor(
    profiles_loaded: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validate, "CHUNK", 3)
    monkeypatch.setattr(importer, "VENDORS_PER_BATCH", 2)
    gl = {"Coverage": "GL", "Effective Date": "2026-01-01", "Expiration Date": "2027-01-01"}
    rows = [
        # Zed first without its email: the row joins the vendor of that name that has one.
        _row(**{"Vendor Name": "Zed Co", "VENDOR PHONE": "212-555-0001", "Policy #": "Z-1"}, **gl),
        *(
            _row(**{"Vendor Name": f"Filler {i}", "Vendor E-mail": f"f{i}@fill.example"})
            for i in range(7)
        ),
        _row(
            **{
                "Vendor Name": "Zed Co",
                "Vendor E-mail": "zed@zed.example",
                "VENDOR PHONE": "212-555-0002",
                "agent name": "Kim Agent",
                "Policy #": "Z-2",
            },
            **gl,
        ),
        *(
            _row(**{"Vendor Name": f"Filler {i}", "Vendor E-mail": f"f{i}@fill.example"})
            for i in range(7, 12)
        ),
        # Z-2 again, renewed: the later row wins.
        _row(
            **{"Vendor Name": "Zed Co", "Vendor E-mail": "ZED@zed.example", "Policy #": "Z-2"},
            **{**gl, "Expiration Date": "2027-06-30"},
        ),
    ]
    path = tmp_path / "roster.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([COLUMNS, *rows])
    result = do_import(profiles_loaded, path)
    assert (result.vendors_created, result.policies_created, result.agents_created) == (13, 2, 1)
    with Session(profiles_loaded) as s:
        zed = s.exec(select(Vendor).where(Vendor.name == "Zed Co")).one()
        # Its rows with its email come first: their phone wins over the row without it.
        assert (zed.email, zed.phone) == ("zed@zed.example", "+12125550002")
        assert zed.agent_id is not None
        policies = s.exec(select(Policy).where(Policy.vendor_id == zed.id)).all()
        assert sorted((p.policy_number, str(p.expiration_date)) for p in policies) == [
            ("Z-1", "2027-01-01"),
            ("Z-2", "2027-06-30"),
        ]
        codes = [v.vendor_code for v in s.exec(select(Vendor).order_by(col(Vendor.id))).all()]
    # Vendor codes follow the order the file first names each vendor (with its email).
    assert codes == [str(100001 + i) for i in range(13)]
    assert not do_import(profiles_loaded, path).changed
