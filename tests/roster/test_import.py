from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from comms.app.cli import app
from comms.models import Agent, Certificate, Policy, Vendor
from comms.roster import RosterError, import_roster
from comms.verdicts import iter_verdicts, status_report

NOW = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
AS_OF = date(2026, 11, 28)

HEADER = (
    "Vendor Name,Vendor E-mail,VENDOR PHONE,agent name,Agent_Email,Agent Phone,Profile,Coverage,"
    "Insurer,Policy #,Effective Date,Expiration Date,Each Occurrence,General Aggregate,"
    "Combined Single Limit,E.L. Each Accident,Additional Insured,Waiver of Subrogation,Notes"
)
# A messy real-world sheet: US dates, dollar signs and commas, "1M", phones in every format.
GOOD_ROWS = [
    'Acme Roofing LLC,OPS@AcmeRoofing.example,(212) 555-0142,Dana Broker,dana@brokerage.example,212.555.0199,standard,General Liability,Travelers,GL-1,01/15/2026,01/15/2027,"$1,000,000","$2,000,000",,,yes,,call first',
    "Acme Roofing LLC,ops@acmeroofing.example,(212) 555-0142,Dana Broker,dana@brokerage.example,212.555.0199,standard,Auto,Travelers,BA-1,1/15/26,1/15/27,,,1M,,Y,,",
    'Acme Roofing LLC,ops@acmeroofing.example,+1 212 555 0142,Dana Broker,dana@brokerage.example,212.555.0199,standard,Workers Comp,State Fund,WC-1,2026-01-15,2027-01-15,,,,"500,000",,x,',
    'Bright Electric,office@bright.example,646-555-0100,Lee Agent,lee@insureco.example,+16465550111,standard,CGL,Hartford,HX-1,12/20/2025,12/20/2026,"1 000 000",2000000.00,,,TRUE,,',
    'Bright Electric,office@bright.example,6465550100,Lee Agent,lee@insureco.example,+16465550111,standard,Automobile Liability,Hartford,HA-1,12/20/2025,12/20/2026,,,"$1,000,000",,true,,',
    'Bright Electric,office@bright.example,1-646-555-0100,Lee Agent,lee@insureco.example,+16465550111,standard,WC,Hartford,HW-1,12/20/2025,12/20/2026,,,,"$500,000",,yes,',
    'Cedar Plumbing,info@cedar.example,718 555 0123,,,,standard,gl,Chubb,CG-1,03/01/2026,03/01/2027,"$500,000","$1,000,000",,,no,,',
    "Fresh Coat Painters,hello@freshcoat.example,(415) 555-0133,,,,standard,,,,,,,,,,,,",
    'Delta HVAC,service@delta.example,917-555-0177,,,,low-risk,General Liability,Zurich,ZG-1,10/01/2025,10/01/2026,"$1,000,000","$1,000,000",,,,,',
]
BAD_ROWS = [
    'Bad Date Co,bd@bad.example,212-555-0101,,,,standard,GL,X,B-1,13/45/2026,01/01/2027,"$1,000,000",,,,,,',
    "Bad Money Co,bm@bad.example,212-555-0102,,,,standard,GL,X,B-2,01/01/2026,01/01/2027,a lot,,,,,,",
    "Bad Phone Co,bp@bad.example,12345,,,,standard,GL,X,B-3,01/01/2026,01/01/2027,1M,,,,,,",
    "Bad Email Co,not-an-email,212-555-0103,,,,standard,GL,X,B-4,01/01/2026,01/01/2027,1M,,,,,,",
    "Bad Coverage Co,bc@bad.example,212-555-0104,,,,standard,Flood,X,B-5,01/01/2026,01/01/2027,1M,,,,,,",
    "Bad Profile Co,bpr@bad.example,212-555-0105,,,,platinum,GL,X,B-6,01/01/2026,01/01/2027,1M,,,,,,",
]


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def counts(db: Engine) -> tuple[int, int, int, int]:
    with Session(db) as s:
        return tuple(  # type: ignore[return-value]
            s.exec(select(func.count()).select_from(m)).one()
            for m in (Vendor, Agent, Certificate, Policy)
        )


def do_import(db: Engine, path: Path, **kw: object):
    with Session(db) as s:
        result = import_roster(s, path, now=NOW, **kw)  # type: ignore[arg-type]
        s.commit()
    return result


def test_messy_sheet_imports_and_normalizes(profiles_loaded: Engine, tmp_path: Path) -> None:
    result = do_import(profiles_loaded, write_csv(tmp_path / "roster.csv", GOOD_ROWS))
    assert result.imported_rows == 9
    assert result.unknown_headers == ["Notes"]
    assert counts(profiles_loaded) == (5, 2, 4, 8)
    with Session(profiles_loaded) as s:
        acme = s.exec(select(Vendor).where(Vendor.name == "Acme Roofing LLC")).one()
        assert acme.email == "OPS@acmeroofing.example"  # matched case-insensitively, one vendor
        assert acme.phone == "+12125550142"
        assert acme.vendor_code and acme.vendor_code.isdigit()
        agent = s.get(Agent, acme.agent_id)
        assert agent is not None and agent.phone == "+12125550199"
        auto = s.exec(select(Policy).where(Policy.policy_number == "BA-1")).one()
        assert auto.coverage == "automobile_liability"
        assert auto.limits == {"combined_single_limit": 1_000_000}
        assert auto.effective_date == date(2026, 1, 15)
        assert auto.additional_insured is True
        gl = s.exec(select(Policy).where(Policy.policy_number == "HX-1")).one()
        assert gl.limits == {"each_occurrence": 1_000_000, "general_aggregate": 2_000_000}
        wc = s.exec(select(Policy).where(Policy.policy_number == "WC-1")).one()
        assert wc.subrogation_waived is True and wc.limits == {"el_each_accident": 500_000}
        report = status_report(list(iter_verdicts(s, AS_OF)), AS_OF)
    assert report["counts"] == {
        "compliant": 1,  # Acme
        "expiring": 1,  # Bright (Dec 20)
        "non_compliant": 1,  # Cedar
        "expired": 1,  # Delta
        "missing": 1,  # Fresh Coat
    }


def test_same_file_twice_changes_nothing(profiles_loaded: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "roster.csv", GOOD_ROWS)
    do_import(profiles_loaded, path)
    before = counts(profiles_loaded)
    with Session(profiles_loaded) as s:
        stamps = sorted((v.id, v.updated_at) for v in s.exec(select(Vendor)).all())
    again = do_import(profiles_loaded, path)
    assert not again.changed
    assert counts(profiles_loaded) == before
    with Session(profiles_loaded) as s:
        assert sorted((v.id, v.updated_at) for v in s.exec(select(Vendor)).all()) == stamps


def test_changed_row_updates_the_policy(profiles_loaded: Engine, tmp_path: Path) -> None:
    do_import(profiles_loaded, write_csv(tmp_path / "roster.csv", GOOD_ROWS))
    renewed = [GOOD_ROWS[0].replace("01/15/2027", "01/15/2028"), *GOOD_ROWS[1:]]
    result = do_import(profiles_loaded, write_csv(tmp_path / "roster2.csv", renewed))
    assert (result.policies_created, result.policies_updated) == (0, 1)
    with Session(profiles_loaded) as s:
        gl = s.exec(select(Policy).where(Policy.policy_number == "GL-1")).one()
        assert gl.expiration_date == date(2028, 1, 15)


def test_bad_rows_write_nothing_and_name_line_and_column(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "roster.csv", GOOD_ROWS + BAD_ROWS)
    with pytest.raises(RosterError) as info:
        do_import(profiles_loaded, path)
    lines = info.value.lines()
    first_bad = len(GOOD_ROWS) + 2
    expected = [
        (first_bad, "effective_date"),
        (first_bad + 1, "each_occurrence"),
        (first_bad + 2, "vendor_phone"),
        (first_bad + 3, "vendor_email"),
        (first_bad + 4, "coverage"),
        (first_bad + 5, "profile"),
    ]
    for line, column in expected:
        assert any(entry.startswith(f"{path}:{line}: {column}: ") for entry in lines), (
            line,
            column,
            lines,
        )
    assert len(lines) == len(expected)
    assert counts(profiles_loaded) == (0, 0, 0, 0)


def test_skip_invalid_imports_the_rest_and_writes_rejects(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "roster.csv", GOOD_ROWS + BAD_ROWS)
    result = do_import(profiles_loaded, path, skip_invalid=True)
    assert result.imported_rows == len(GOOD_ROWS)
    assert result.rejected_rows == len(BAD_ROWS)
    assert result.rejected_file == tmp_path / "roster.csv.rejected.csv"  # FILE.rejected.csv
    with result.rejected_file.open() as fh:
        rejected = list(csv.DictReader(fh))
    assert [r["Vendor Name"] for r in rejected] == [r.split(",")[0] for r in BAD_ROWS]
    assert "effective_date" in rejected[0]["errors"]
    with Session(profiles_loaded) as s:
        report = status_report(list(iter_verdicts(s, AS_OF)), AS_OF)
    assert sum(report["counts"].values()) == 5
    assert report["counts"]["missing"] == 1


def test_xlsx(profiles_loaded: Engine, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(
        [
            "Vendor",
            "Vendor Email",
            "Vendor Phone",
            "Profile",
            "Coverage",
            "Policy Number",
            "Expiration",
            "Each Occurrence",
            "General Aggregate",
            "AI",
        ]
    )
    ws.append(
        [
            "Xl Co",
            "xl@co.example",
            2125550111,
            "standard",
            "GL",
            "X-1",
            datetime(2027, 3, 1),
            1000000,
            "$2,000,000",
            "x",
        ]
    )
    ws.append([None] * 10)
    ws.append(
        [
            "Xl Co",
            "xl@co.example",
            "(212) 555-0111",
            "standard",
            "Umbrella",
            "U-1",
            "3/1/27",
            "5M",
            None,
            None,
        ]
    )
    path = tmp_path / "roster.xlsx"
    wb.save(path)
    result = do_import(profiles_loaded, path)
    assert result.imported_rows == 2
    with Session(profiles_loaded) as s:
        vendor = s.exec(select(Vendor)).one()
        assert vendor.phone == "+12125550111"
        pols = {p.coverage: p for p in s.exec(select(Policy)).all()}
        assert pols["general_liability"].expiration_date == date(2027, 3, 1)
        assert pols["umbrella_liability"].limits == {"each_occurrence": 5_000_000}


def test_cli_exit_2_lists_every_problem(
    use_db: Engine, profiles_loaded: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "roster.csv", GOOD_ROWS + BAD_ROWS[:2])
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}:{len(GOOD_ROWS) + 2}: effective_date:" in result.output
    assert "nothing was imported" in result.output
    result = runner.invoke(app, ["import", str(path), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "rejected rows written to" in result.output


def test_cli_status_json(use_db: Engine, profiles_loaded: Engine, tmp_path: Path) -> None:
    import json

    runner = CliRunner()
    path = write_csv(tmp_path / "roster.csv", GOOD_ROWS)
    assert runner.invoke(app, ["import", str(path)]).exit_code == 0
    result = runner.invoke(app, ["status", "--as-of", "2026-11-28", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["as_of"] == "2026-11-28"
    assert data["counts"]["expired"] == 1
    cedar = next(v for v in data["vendors"] if v["name"] == "Cedar Plumbing")
    assert cedar["status"] == "non_compliant"
    assert set(cedar["deficiencies"][0]) == {"code", "coverage", "message"}
    one = runner.invoke(
        app, ["status", "--as-of", "2026-11-28", "--vendor", "delta hvac", "--json"]
    )
    assert [v["name"] for v in json.loads(one.output)["vendors"]] == ["Delta HVAC"]


def test_unreadable_files(profiles_loaded: Engine, tmp_path: Path) -> None:
    from comms.roster.reader import RosterFileError

    bad = tmp_path / "roster.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(RosterFileError, match=r"roster\.xlsx"):
        do_import(profiles_loaded, bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(RosterFileError, match="empty"):
        do_import(profiles_loaded, empty)
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("a,b\n1,2\n")
    with pytest.raises(RosterFileError, match="vendor_name"):
        do_import(profiles_loaded, nohead)


def test_a_row_without_the_email_is_the_same_vendor(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    """One vendor over several rows, its email on only some of them (in either order): one
    vendor with all its policies, in this file and when a later file leaves the email out."""
    no_email = GOOD_ROWS[1].replace("ops@acmeroofing.example", "")
    rows = [no_email, GOOD_ROWS[0], GOOD_ROWS[2], *GOOD_ROWS[3:]]
    result = do_import(profiles_loaded, write_csv(tmp_path / "roster.csv", rows))
    assert result.vendors_created == 5
    with Session(profiles_loaded) as s:
        acme = s.exec(select(Vendor).where(Vendor.name == "Acme Roofing LLC")).all()
        assert [(v.email or "").lower() for v in acme] == ["ops@acmeroofing.example"]
        numbers = s.exec(select(Policy.policy_number).where(Policy.vendor_id == acme[0].id)).all()
        assert sorted(n or "" for n in numbers) == ["BA-1", "GL-1", "WC-1"]
    later = write_csv(tmp_path / "later.csv", [GOOD_ROWS[0].replace("OPS@AcmeRoofing.example", "")])
    assert do_import(profiles_loaded, later).vendors_created == 0
    assert counts(profiles_loaded)[0] == 5


def test_same_name_with_two_emails_refuses_a_row_without_one(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    """Two vendors of one name (two emails) and a row of that name without an email: the row
    cannot say which of them it is, so it is refused by line and field, not guessed."""
    cedar = GOOD_ROWS[6]
    other = cedar.replace("info@cedar.example", "billing@cedar-two.example").replace("CG-1", "CG-2")
    no_email = cedar.replace("info@cedar.example", "").replace("CG-1", "CG-3")
    path = write_csv(tmp_path / "roster.csv", [cedar, other, no_email])
    with pytest.raises(RosterError) as info:
        do_import(profiles_loaded, path)
    assert info.value.lines() == [
        f"{path}:4: vendor_email: is required here: 2 vendors are named 'Cedar Plumbing' (in"
        " this file or on file), and without the email the row cannot say which one it is"
    ]
    assert counts(profiles_loaded) == (0, 0, 0, 0)
    result = do_import(profiles_loaded, path, skip_invalid=True)
    assert (result.vendors_created, result.imported_rows, result.rejected_rows) == (2, 2, 1)
    assert result.rejected_file is not None
    assert "CG-3" in result.rejected_file.read_text()
    with Session(profiles_loaded) as s:
        emails = s.exec(select(Vendor.email).where(Vendor.name == "Cedar Plumbing")).all()
        assert sorted(e or "" for e in emails) == [
            "billing@cedar-two.example",
            "info@cedar.example",
        ]


def test_a_row_without_the_email_is_refused_when_two_on_file_have_the_name(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    cedar = GOOD_ROWS[6]
    other = cedar.replace("info@cedar.example", "billing@cedar-two.example").replace("CG-1", "CG-2")
    do_import(profiles_loaded, write_csv(tmp_path / "first.csv", [cedar, other]))
    before = counts(profiles_loaded)
    no_email = cedar.replace("info@cedar.example", "").replace("CG-1", "CG-3")
    later = write_csv(tmp_path / "later.csv", [GOOD_ROWS[0], no_email.replace("Cedar", " cedar")])
    with pytest.raises(RosterError) as info:
        do_import(profiles_loaded, later)
    assert [(p.line, p.column) for p in info.value.problems] == [(3, "vendor_email")]
    assert counts(profiles_loaded) == before
    # with the email the file says which, and one emailed row in the file settles the others
    settled = write_csv(tmp_path / "settled.csv", [other.replace("CG-2", "CG-4"), no_email])
    result = do_import(profiles_loaded, settled)
    assert (result.vendors_created, result.policies_created) == (0, 2)


def test_a_row_without_the_agent_email_is_the_same_agent(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    no_agent_email = GOOD_ROWS[4].replace("lee@insureco.example", "")
    rows = [GOOD_ROWS[3], no_agent_email, GOOD_ROWS[5]]
    result = do_import(profiles_loaded, write_csv(tmp_path / "roster.csv", rows))
    assert result.agents_created == 1
    with Session(profiles_loaded) as s:
        lee = s.exec(select(Agent).where(Agent.name == "Lee Agent")).one()
        assert lee.email == "lee@insureco.example"
        bright = s.exec(select(Vendor).where(Vendor.name == "Bright Electric")).one()
        assert bright.agent_id == lee.id


def test_skip_invalid_never_overwrites_an_earlier_rejects_file(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "roster.csv", GOOD_ROWS + BAD_ROWS)
    earlier = tmp_path / "roster.csv.rejected.csv"
    earlier.write_text("kept\n")
    result = do_import(profiles_loaded, path, skip_invalid=True)
    assert result.rejected_file == tmp_path / "roster.csv.rejected-2.csv"
    assert earlier.read_text() == "kept\n"
    again = do_import(profiles_loaded, path, skip_invalid=True)
    assert again.rejected_file == tmp_path / "roster.csv.rejected-3.csv"


def test_a_duplicate_row_is_reported_as_merged_with_its_lines(
    profiles_loaded: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "roster.csv", [*GOOD_ROWS, GOOD_ROWS[0]])
    result = do_import(profiles_loaded, path)
    last = len(GOOD_ROWS) + 2  # the header is line 1
    assert len(result.merged) == 1
    assert result.merged[0].startswith(f"lines 2 and {last}: the same row (")
    assert result.merged[0].endswith("merged into one")
