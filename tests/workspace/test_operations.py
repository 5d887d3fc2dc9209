"""Operations endpoints: /healthz, /readyz, /metrics; and `comms doctor` against real peers
(the SMTP test server, Redis, the web app served by uvicorn)."""

from __future__ import annotations

import logging
import re
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from typer.testing import CliRunner

from comms.app.cli import app as cli
from comms.app.web import create_app
from comms.db import make_engine
from comms.migrate import upgrade
from comms.models import VendorVerdict
from comms.redact import SERVER_LOGGERS
from comms.settings import get_settings, reset_settings_cache
from tests.support.db import fresh_postgres_url
from tests.support.services import free_port, port_open, require
from tests.support.smtp_server import SmtpTestServer
from tests.verdicts.test_cli import NOW, imported
from tests.workspace.conftest import Clock
from tests.workspace.test_web_guard import _Served


def test_healthz_and_readyz(app_client: TestClient) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    ready = app_client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "broker": "ok"}


def test_readyz_names_a_broker_that_does_not_answer(roster: Engine, clock: Clock) -> None:
    settings = get_settings().model_copy(
        update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    app = create_app(settings, engine=roster, clock=clock, enqueue=lambda *_: None)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["database"] == "ok" and body["broker"] != "ok" and "Error" in body["broker"]


def test_metrics(seeded: Engine, clock: Clock) -> None:
    app = create_app(get_settings(), engine=seeded, clock=clock, enqueue=lambda *_: None)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        before = _webhooks(client.get("/metrics").text)
        client.post("/twilio/sms/status", data={})  # one webhook timed (refused: no signature)
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in (
        'comms_deliveries{channel="email",status="sent"} 1.0',
        'comms_deliveries{channel="sms",status="sent"} 1.0',
        "comms_outbox_backlog 0.0",
        "comms_call_tasks_waiting 0.0",
        "comms_extraction_seconds_count",
    ):
        assert line in text, (line, text)
    assert "comms_cases" in text and "comms_inbound_messages" in text
    assert _webhooks(text) == before + 1


def _webhooks(text: str) -> float:
    found = re.search(r"^comms_webhook_seconds_count (\S+)$", text, re.M)
    assert found, text
    return float(found.group(1))


def _doctor(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> tuple[int, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    loggers = [logging.getLogger(name) for name in ("", *SERVER_LOGGERS)]
    saved = [(lg, list(lg.handlers), list(lg.filters), lg.level, lg.propagate) for lg in loggers]
    try:
        result = CliRunner().invoke(cli, ["doctor"])
    finally:  # the command set up logging on the runner's streams: put it back
        for logger, handlers, filters, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.filters[:] = filters
            logger.setLevel(level)
            logger.propagate = propagate
    return result.exit_code, result.output


def test_doctor_one_line_per_peer(
    roster: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch, use_db: Engine, tmp_path: Path
) -> None:
    require(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    # the doctor reads its own database, migrated by Alembic, of the parameter's backend
    with ExitStack() as stack:
        if use_db.dialect.name == "sqlite":
            url = f"sqlite:///{tmp_path / 'doctor.db'}"
        else:
            url = stack.enter_context(fresh_postgres_url())
        migrated = make_engine(url)
        upgrade(migrated)
        migrated.dispose()
        _doctor_checks(monkeypatch, roster, clock, url)


def _doctor_checks(monkeypatch: pytest.MonkeyPatch, roster: Engine, clock: Clock, url: str) -> None:
    with SmtpTestServer() as smtp, _Served(get_settings(), roster, clock) as web:
        env = {
            "COMMS_DATABASE_URL": url,
            "COMMS_BROKER_URL": "redis://127.0.0.1:6379/13",
            "COMMS_SMTP_HOST": smtp.host,
            "COMMS_SMTP_PORT": str(smtp.port),
            "COMMS_HOLDER_NAME": "Acme Holdings",
            "COMMS_HOLDER_ADDRESS": "1 Main St, Springfield",
            "COMMS_PUBLIC_URL": f"http://127.0.0.1:{web.port}",
        }
        code, output = _doctor(monkeypatch, env)
    lines = output.strip().splitlines()
    assert code == 0, output
    assert [line.split()[:2] for line in lines] == [
        ["ok", "database"],
        ["ok", "broker"],
        ["ok", "smtp"],
        ["skip", "imap"],
        ["skip", "twilio"],
        ["ok", "public_url"],
        ["ok", "disk"],
    ]
    # the SMTP server is gone: that line says so and what to check, and the exit status is 1
    code, output = _doctor(monkeypatch, {"COMMS_SMTP_PORT": str(free_port())})
    assert code == 1
    [smtp_line] = [line for line in output.splitlines() if line.split()[1:2] == ["smtp"]]
    assert smtp_line.startswith("FAIL") and "COMMS_SMTP_PORT" in smtp_line


def _gauge(text: str, name: str) -> float | None:
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def test_metrics_show_the_last_verdict_check(use_db: Engine, tmp_path: Path) -> None:
    """`comms verdicts check` keeps what it found; /metrics reads it without recomputing."""
    runner = imported(use_db, tmp_path, 6)  # 2 compliant, 4 missing
    at = datetime.fromisoformat(NOW)
    app = create_app(get_settings(), engine=use_db, clock=lambda: at + timedelta(minutes=5))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert "comms_verdict_drift_vendors" not in client.get("/metrics").text  # never checked
        assert runner.invoke(cli, ["verdicts", "check", "--now", NOW]).exit_code == 0
        clean = client.get("/metrics").text
        with Session(use_db) as s:  # four stored verdicts go wrong behind the service's back
            s.exec(
                update(VendorVerdict)
                .where(col(VendorVerdict.status) == "missing")
                .values(status="compliant")
            )
            s.commit()
        unchecked = client.get("/metrics").text  # nothing recomputed at a scrape
        assert runner.invoke(cli, ["verdicts", "check", "--now", NOW]).exit_code == 1
        drifted = client.get("/metrics").text
    assert _gauge(clean, "comms_verdict_drift_vendors") == 0
    assert _gauge(clean, "comms_verdict_drift_counts") == 0
    assert _gauge(clean, "comms_verdict_check_age_seconds") == 300
    assert _gauge(unchecked, "comms_verdict_drift_vendors") == 0
    assert _gauge(drifted, "comms_verdict_drift_vendors") == 4
    assert _gauge(drifted, "comms_verdict_drift_counts") == 2  # compliant and missing
