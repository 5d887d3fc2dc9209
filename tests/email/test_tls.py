"""STARTTLS and implicit TLS against a real server with a private CA (COMMS_SMTP_CA_FILE)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from comms.dispatch import deliver, shutdown
from comms.email.compose import queue_email
from comms.settings import SettingsError, get_settings, reset_settings_cache
from tests.email.helpers import make_vendor
from tests.support.smtp_server import SmtpTestServer
from tests.support.tls import Pki, make_pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture(autouse=True)
def _close() -> Iterator[None]:
    yield
    shutdown()


def _send(engine: Engine, now: datetime, key: str) -> str:
    with Session(engine, expire_on_commit=False) as s:
        vendor = make_vendor(s, now, name=f"Vendor {key}", email=f"{key}@vendor.test")
        row, _ = queue_email(
            s,
            idempotency_key=key,
            template="certificate_request",
            vendor=vendor,
            recipient_kind="vendor",
            now=now,
        )
        s.commit()
    done = deliver(row.id or 0, now=now, engine=engine)
    assert done is not None
    return f"{done.status}" if done.status == "sent" else f"{done.status}: {done.error}"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS
@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_tls_modes_deliver_encrypted(
    mode: str, pki: Pki, sqlite_db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SmtpTestServer(
        tls=pki.server_context(),
        implicit=mode == "implicit",
        credentials=("relay", "s3cret-relay-pw"),
    ) as server:
        for key, value in {
            "COMMS_SMTP_HOST": server.host,
            "COMMS_SMTP_PORT": str(server.port),
            "COMMS_SMTP_TLS": mode,
            "COMMS_SMTP_CA_FILE": str(pki.ca_file),
            "COMMS_SMTP_USERNAME": "relay",
            "COMMS_SMTP_PASSWORD": "s3cret-relay-pw",
        }.items():
            monkeypatch.setenv(key, value)
        reset_settings_cache()
        assert _send(sqlite_db, now, f"tls-{mode}") == "sent"
        [received] = server.messages
        assert received.tls and server.logins == ["relay"]


def test_untrusted_certificate_is_not_sent_to(
    pki: Pki, sqlite_db: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SmtpTestServer(tls=pki.server_context()) as server:
        monkeypatch.setenv("COMMS_SMTP_HOST", server.host)
        monkeypatch.setenv("COMMS_SMTP_PORT", str(server.port))
        monkeypatch.setenv("COMMS_SMTP_TLS", "starttls")  # system CAs only: ours is unknown
        reset_settings_cache()
        # retried later, never sent in the clear
        assert _send(sqlite_db, now, "untrusted").startswith("queued")
        assert server.messages == []


def test_missing_ca_file_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMMS_SMTP_CA_FILE", str(tmp_path / "nope.pem"))
    reset_settings_cache()
    with pytest.raises(SettingsError, match="COMMS_SMTP_CA_FILE"):
        get_settings()
