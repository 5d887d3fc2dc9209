from __future__ import annotations

import logging

import pytest

from comms.redact import RedactingFilter, redact, redact_email, redact_phone


def test_redacts_email_local_part_and_phone() -> None:
    text = "mail to dana.smith+x@broker.example and call +1 (212) 555-0142 now"
    out = redact(text)
    assert "dana.smith" not in out
    assert "@broker.example" in out
    assert "555-0142" not in out and "5550142" not in out
    assert redact_email("a.b@c.org") == "***@c.org"
    assert redact_phone("+12125550142") == "***42"


def test_logging_filter(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    handler = caplog.handler
    handler.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="test.redact"):
            logger.info("bounce for %s from %s", "ops@acme.example", "+12125550142")
    finally:
        handler.removeFilter(handler.filters[-1])
    assert "ops@" not in caplog.text
    assert "***@acme.example" in caplog.text
    assert "2125550142" not in caplog.text
