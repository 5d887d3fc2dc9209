from __future__ import annotations

from collections.abc import Iterator

import pytest

from comms import dispatch
from comms.settings import reset_settings_cache
from tests.support.smtp_server import SmtpTestServer


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def smtp(smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpTestServer]:
    """Settings pointing the email channel at the test server; senders closed afterwards."""
    monkeypatch.setenv("COMMS_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("COMMS_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("COMMS_SMTP_CONNECTIONS", "2")
    monkeypatch.setenv("COMMS_SECRET_KEY", "test-signing-key-0123456789")
    monkeypatch.setenv("COMMS_REPLY_DOMAIN", "reply.test")
    monkeypatch.setenv("COMMS_MAIL_FROM", "COI Desk <coi@sender.test>")
    reset_settings_cache()
    yield smtp_server
    dispatch.shutdown()


@pytest.fixture(autouse=True)
def _close_dispatch() -> Iterator[None]:
    yield
    dispatch.shutdown()
