"""The bad-input table: each input prints one line naming the thing and what to do, exits 2
(`comms extract` of a readable non-ACORD 25: 3, documented) and writes nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from comms.app.entry import main
from comms.models import Case, Vendor
from comms.settings import reset_settings_cache
from inbound.models import InboundEmail
from tests.support.acord25_cases import other_acord_form
from tests.support.services import port_open, require
from tests.workflows.conftest import add_vendor

NO_SUCH_DB = "comms_h15_no_such_database"


def run(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, list[str], str]:
    """`comms ARGS` in process, through the real entry point: (exit code, the non-blank
    lines of standard error, standard output)."""
    monkeypatch.setattr(sys, "argv", ["comms", *args])
    reset_settings_cache()
    capfd.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capfd.readouterr()
    code = exited.value.code
    lines = [line for line in err.splitlines() if line.strip() and "Deprecat" not in line]
    lines = [line for line in lines if "from starlette" not in line]
    return (code if isinstance(code, int) else 1), lines, out


@pytest.mark.parametrize("command", [["status"], ["init"], ["db", "upgrade"]])
def test_a_postgresql_database_that_does_not_exist(
    command: list[str], capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require(port_open("127.0.0.1", 5432), "PostgreSQL at 127.0.0.1:5432")
    monkeypatch.setenv("COMMS_DATABASE_URL", f"postgresql://postgres@127.0.0.1:5432/{NO_SUCH_DB}")
    code, lines, _ = run(capfd, monkeypatch, *command)
    assert code == 2
    assert lines == [
        f"error: COMMS_DATABASE_URL: there is no database {NO_SUCH_DB!r} on 127.0.0.1:5432:"
        f" create it (createdb {NO_SUCH_DB}) or fix the URL, then run `comms init`"
    ]


def test_a_postgresql_url_with_a_wrong_port(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not port_open("127.0.0.1", 1)
    monkeypatch.setenv("COMMS_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/test")
    code, lines, _ = run(capfd, monkeypatch, "status")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error: COMMS_DATABASE_URL: nothing answers on 127.0.0.1:1 (")
    assert "is PostgreSQL running there, and are the host and port right?" in lines[0]


def test_an_unreachable_broker_on_tick_writes_nothing(
    use_db: Engine, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(use_db) as s:
        add_vendor(s, expires=None)  # no certificate: a tick would open a case
    monkeypatch.setenv("COMMS_BROKER_URL", "redis://127.0.0.1:1/0")
    code, lines, _ = run(capfd, monkeypatch, "tick", "--now", "2026-11-02T14:00:00+00:00")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error: COMMS_BROKER_URL: nothing answers on 127.0.0.1:1 (")
    assert "start Redis there, fix the URL, or leave it empty" in lines[0]
    with Session(use_db) as s:
        assert s.exec(select(Case)).all() == []


def test_ingest_of_random_bytes_stores_nothing(
    use_db: Engine,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(os.urandom(4000).replace(b":", b"."))
    code, lines, out = run(capfd, monkeypatch, "ingest", str(garbage))
    assert code == 2
    assert lines == [
        f"error: {garbage}: not an email message: an .eml file starts with headers such as"
        " From: and Subject:; nothing was stored"
    ]
    assert "Traceback" not in out
    with Session(use_db) as s:
        assert s.exec(select(InboundEmail)).all() == []


def test_import_of_a_folder(
    use_db: Engine,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, lines, _ = run(capfd, monkeypatch, "import", str(tmp_path))
    assert code == 2
    assert lines == [
        f"error: {tmp_path}: a folder, not a roster file; give one .csv or .xlsx file inside it"
    ]


def test_import_of_an_xlsx_renamed_csv(
    use_db: Engine,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Vendor Name", "Vendor Email"])
    sheet.append(["Acme Roofing LLC", "ops@acme.example"])
    renamed = tmp_path / "roster.csv"
    book.save(renamed)
    code, lines, _ = run(capfd, monkeypatch, "import", str(renamed))
    assert code == 2
    assert lines == [
        f"error: {renamed}: this is an Excel workbook (.xlsx), not CSV text; rename it to"
        " roster.xlsx or save it as CSV"
    ]
    with Session(use_db) as s:
        assert s.exec(select(Vendor)).all() == []


def test_a_data_dir_that_is_a_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_file = tmp_path / "var.txt"
    a_file.write_text("not a folder")
    monkeypatch.setenv("COMMS_DATA_DIR", str(a_file))
    code, lines, _ = run(capfd, monkeypatch, "status")
    assert code == 2
    assert lines == [
        f"error: invalid settings: COMMS_DATA_DIR: {a_file} is a file, not a folder: name a"
        " folder (it holds the database, the outbox and the documents; it is created when"
        " missing)"
    ]
    assert a_file.read_text() == "not a folder"


def test_extract_of_a_pdf_that_is_not_an_acord_25_has_its_own_exit_code(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "evidence.pdf"
    other.write_bytes(other_acord_form("28"))
    code, lines, out = run(capfd, monkeypatch, "extract", str(other), "--json")
    assert code == 3  # 0: an ACORD 25; 2: unreadable; 3: read, but not an ACORD 25
    assert lines == [
        f"error: {other}: not an ACORD 25 certificate of liability insurance (the document is"
        " an ACORD 28, not an ACORD 25 certificate); send the ACORD 25 itself"
    ]
    assert '"is_acord25": false' in out
