"""What a newcomer meets on the command line: a taken port named in one line, when the next
message goes out, an aligned cases table in the organization's zone, real addresses on the
operator's terminal."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from comms.app.cli import app
from tests.workflows.conftest import add_vendor

runner = CliRunner()


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", [["web"], ["run", "--interval", "0.1"]])
def test_a_taken_port_stops_with_one_line_naming_it(
    command: list[str], taken_port: int, sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, [*command, "--host", "127.0.0.1", "--port", str(taken_port)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert f"port {taken_port} on 127.0.0.1 is already in use" in lines[0]
    assert "--port or COMMS_WEB_PORT" in lines[0]


def test_the_port_setting_is_checked_too(taken_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMS_WEB_PORT", str(taken_port))
    result = runner.invoke(app, ["web"])
    assert result.exit_code == 2 and f"port {taken_port}" in result.output


def test_tick_says_when_the_next_message_goes_out(use_db: Engine) -> None:
    with Session(use_db) as s:
        add_vendor(s)  # expires 2027-01-15: the renewal request is due 2026-12-16 09:00
    result = runner.invoke(app, ["tick", "--now", "2026-12-16T10:00:00+00:00"])
    assert result.exit_code == 0, result.output
    assert "next: 2 emails at 09:00 America/New_York on Wed Dec 16, in 4 h 0 min" in result.output
    result = runner.invoke(app, ["tick", "--now", "2026-12-16T14:00:00+00:00"])
    assert "queued 2 deliveries" in result.output
    assert "next: 2 emails at 09:00 America/New_York on Fri Dec 25, in 9 d 0 h 0 min" in (
        result.output
    )


def test_tick_with_nothing_scheduled_says_so(use_db: Engine) -> None:
    result = runner.invoke(app, ["tick", "--now", "2026-12-16T10:00:00+00:00"])
    assert result.exit_code == 0, result.output
    assert "next: nothing scheduled" in result.output


def test_cases_list_is_an_aligned_table_in_the_organization_zone(use_db: Engine) -> None:
    with Session(use_db) as s:
        add_vendor(s)
        add_vendor(s, name="Bright Electric Company of Brooklyn", expires=None)
    runner.invoke(app, ["tick", "--now", "2026-12-16T10:00:00+00:00"])
    result = runner.invoke(app, ["cases", "list"])
    assert result.exit_code == 0, result.output
    header, *rows, zone = result.output.splitlines()
    assert header.split() == ["case", "vendor", "ladder", "state", "step", "next", "step", "due"]
    assert zone == "times in America/New_York"
    assert len(rows) == 2
    starts = {
        line.index("expiring") if "expiring" in line else line.index("missing") for line in rows
    }
    assert len(starts) == 1  # the ladder column lines up
    assert "2026-12-16 09:00" in result.output  # 14:00 UTC, in New York


def test_simulate_shows_real_addresses(use_db: Engine) -> None:
    with Session(use_db) as s:
        add_vendor(s)
    result = runner.invoke(app, ["simulate", "--from", "2026-12-01", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "dana.acme@brokerage.example" in result.output
    assert "ops@acme.example" in result.output
