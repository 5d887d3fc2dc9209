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


@pytest.mark.parametrize(
    "text",
    [
        "tick 2026-11-29T02:21:28.123456+00:00: opened 0",
        "tick 2026-11-29T02:21:28+00:00",
        "tick 2026-11-29T02:21:28Z",
        "trigger date 2026-11-29, due 2026-12-02 09:00",
        "retry at 02:21:28.123456",
    ],
)
def test_dates_and_times_are_not_phone_numbers(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("2026-11-29 call +12125550142 back", "2125550142"),
        ("on 2026-11-29T10:00:00Z sms to (212) 555-0142", "555-0142"),
        ("vendor 212.555.0142 at 2026-11-29", "212.555.0142"),
        ("dialed 212-555-0142 on 2026-11-29", "212-555-0142"),
        ("2026-11-29 tel:+12125550142", "2125550142"),
        ("2026-11-29 sms to:212.555.0142", "212.555.0142"),
    ],
)
def test_phone_numbers_next_to_dates_are_still_hidden(text: str, hidden: str) -> None:
    out = redact(text)
    assert hidden not in out and "***42" in out
    assert "2026-11-29" in out


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250 2.0.0 queued as 5", "250 2.0.0 queued as 5"),
        ("550 5.1.1 <***@acme.test>: no such user", "550 5.1.1 <***@acme.test>: no such user"),
        ("550-5.7.1 rejected", "550-5.7.1 rejected"),
        ("421 4.7.0 try later, call 212 555 0142", "421 4.7.0 try later, call ***42"),
    ],
)
def test_smtp_status_codes_are_kept(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "inbound 7 quarantined (permanent): message is 28311552 bytes, over "
        "COMMS_MAX_MESSAGE_BYTES (26214400); not parsed",
        "COI.pdf: attachment over 10485760 bytes",
        "attachments over 26214400 bytes in one message",
        "spooled 54001234 B to disk; raw_bytes=54001234, max_bytes: 26214400",
        "a 28311552-byte message",
        "250 2.0.0 Ok: queued as 20391847",
        "250 2.0.0 queued as 5",
    ],
)
def test_byte_counts_and_queue_ids_are_not_phone_numbers(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("call 3135550142 about the 28311552 bytes", "3135550142"),
        ("sms +13135550142 bytes", "3135550142"),
        ("+1 313 555 0142 bytes", "313 555 0142"),
        ("bytes: 313 555 0142", "313 555 0142"),
        ("bytes=313-555-0142", "313-555-0142"),
        ("max_bytes (313.555.0142)", "313.555.0142"),
        ("10 MB for tel:+13135550142", "3135550142"),
        ("dial %2B13135550142; 26214400 bytes", "3135550142"),
        ("callback (313) 555-0142", "555-0142"),
        ("421 4.7.0 call 313.555.0142, queued as 5", "313.555.0142"),
    ],
)
def test_phone_numbers_near_byte_counts_are_still_hidden(text: str, hidden: str) -> None:
    out = redact(text)
    assert hidden not in out and "***42" in out
