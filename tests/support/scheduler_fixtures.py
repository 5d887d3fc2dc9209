"""Fixtures shared by the test folders that run workflows (`tests/workflows`, `tests/inbound`):
their conftest imports them, so they apply there only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from comms import broker as broker_mod
from comms.settings import reset_settings_cache
from tests.support.smtp_server import SmtpTestServer
from workflows.definitions import clear_cache


@pytest.fixture(autouse=True)
def _fresh_broker() -> Iterator[None]:
    """Workflow definitions read again and a new in-process broker for every test."""
    clear_cache()
    broker_mod.reset()
    yield
    broker_mod.reset()


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpTestServer]:
    """The SMTP test server, with the settings pointing the email channel at it."""
    with SmtpTestServer() as server:
        monkeypatch.setenv("COMMS_SMTP_HOST", server.host)
        monkeypatch.setenv("COMMS_SMTP_PORT", str(server.port))
        monkeypatch.setenv("COMMS_SMTP_TLS", "none")
        reset_settings_cache()
        yield server
    from comms.dispatch import shutdown

    shutdown()
