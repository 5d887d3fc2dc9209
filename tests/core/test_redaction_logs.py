"""Redaction in logs: wider addresses, phone formats, tracebacks and stacks, uvicorn's loggers."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from comms.cli.context import setup_logging
from comms.redact import (
    SERVER_LOGGERS,
    RedactingFilter,
    RedactingFormatter,
    guard_loggers,
    redact,
)
from tests.support.services import free_port

PHONE = "+12125550123"
EMAIL = "jane@müller.de"
IRISH = "o'brien.pat@example.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bounce from jane@müller.de today", "bounce from ***@müller.de today"),
        ("to o'brien.pat@example.com", "to ***@example.com"),
        ("Jürgen.Müller@bücher.de", "***@bücher.de"),
        ("用户@例子.广告", "***@例子.广告"),
        ("jane@例え。テスト", "***@例え。テスト"),
        ("a!#$%&'*+/=?^_`{|}~z@example.com", "***@example.com"),
        ('"john doe"@example.com', "***@example.com"),
        ("mid <20240101.123@mail.example.com>", "mid <***@mail.example.com>"),
        ("['ops@x.org', 'b@y.com']", "['***@x.org', '***@y.com']"),
        ("“bob@x.com” «eve@x.fr»", "“***@x.com” «***@x.fr»"),
        ("https://user@host.example/p", "https://***@host.example/p"),
        ("POST /hook?Email=jane%40example.com", "POST /hook?Email=***%40example.com"),
        ("x@[10.0.0.1]", "***@[10.0.0.1]"),
        ("coi@example.com@imap.example.com/INBOX", "***@example.com@imap.example.com/INBOX"),
        ("'o'brien.pat@example.com' //x@y.org", "'***@example.com' //***@y.org"),
        ("to=jane@x.com", "***@x.com"),  # "=" is atext: the run is one local part
    ],
)
def test_addresses_lose_their_whole_local_part(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # redacting twice (filter, then formatter) is harmless


@pytest.mark.parametrize(
    "text",
    [
        "reply to user at host dot com",
        "jane(at)example.com",
        "ping @mention please",
        "foo@bar is not an address",
        "installed pkg@1.2.3",
        "client 127.0.0.1:54321 and 10.20.30.40",
    ],
)
def test_what_is_not_an_address_or_a_number_is_kept(text: str) -> None:
    assert redact(text) == text


def test_long_runs_are_scanned_in_linear_time() -> None:
    # before: every "." or "/" restarted the scan of the run (minutes for these)
    started = time.perf_counter()
    for text in ("a." * 50_000, "a'/" * 30_000, "/x?y=z&" * 15_000, "a%4" * 30_000):
        assert redact(text) == text
    # an unsigned request's query string: quoted local parts and domain literals are bounded
    for text in ('"' + '\\"' * 8_000, "a@[" * 5_400):
        assert redact(text) == text
    assert redact("mail ops@[10.0.0.1] now") == "mail ***@[10.0.0.1] now"
    assert redact("1-" * 50_000 + "x") == "***11-x"
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("number", "digits"),
    [
        ("+12125550123", "2125550123"),
        ("+442079460958", "2079460958"),
        ("+4930123456", "30123456"),
        ("+1 (212) 555-0123", "555-0123"),
        ("+44 20 7946 0958", "7946 0958"),
        ("(212) 555-0123", "555-0123"),
        ("212-555-0123", "212-555-0123"),
        ("212.555.0123", "212.555.0123"),
        ("020 7946 0958", "020 7946 0958"),
        ("030 1234567", "030 1234567"),
        ("06 12 34 56 78", "06 12 34 56 78"),
        ("079.123.45.67", "079.123.45.67"),
        ("tel:+12125550123", "2125550123"),
        ("From=%2B12125550123", "2125550123"),
    ],
)
def test_phone_numbers_in_e164_and_national_formats(number: str, digits: str) -> None:
    out = redact(f"call {number} now")
    assert digits not in out
    assert out.startswith("call ") and out.endswith(" now")
    assert f"***{''.join(c for c in number if c.isdigit())[-2:]}" in out


@contextmanager
def isolated_logging() -> Iterator[None]:
    """Run with an empty root logger; put the root and uvicorn's loggers back afterwards."""
    saved = []
    for name in ("", *SERVER_LOGGERS):
        logger = logging.getLogger(name or None)
        state = (list(logger.handlers), list(logger.filters), logger.level, logger.propagate)
        saved.append((logger, state))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for name in SERVER_LOGGERS:  # as a fresh process finds them, whatever ran before
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.filters[:] = []
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    try:
        yield
    finally:
        for logger, (handlers, filters, level, propagate) in saved:
            logger.handlers[:] = handlers
            logger.filters[:] = filters
            logger.setLevel(level)
            logger.propagate = propagate


def _fail_with_pii() -> None:
    try:
        raise LookupError(f"no vendor for {EMAIL}")
    except LookupError as exc:
        raise RuntimeError(f"insert failed: ('{PHONE}', '{IRISH}')") from exc


def _assert_clean(text: str) -> None:
    for secret in ("2125550123", "jane@", "brien", "pat@"):
        assert secret not in text, text


def _capture(handlers: list[logging.Handler]) -> io.StringIO:
    out = io.StringIO()
    for handler in handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(out)
    return out


class _Keep(logging.Handler):
    """Another handler (an error tracker): keeps the records it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_setup_logging_redacts_the_traceback_and_keeps_exc_info() -> None:
    with isolated_logging():
        setup_logging("INFO")
        root = logging.getLogger()
        out = _capture(root.handlers)
        keep = _Keep()
        root.addHandler(keep)
        log = logging.getLogger("test.redaction.db")
        try:
            _fail_with_pii()
        except RuntimeError:
            log.exception("delivery %s failed", 42)
        text = out.getvalue()
    _assert_clean(text)
    assert "delivery 42 failed" in text
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: insert failed: ('***23', '***@example.com')" in text
    assert "LookupError: no vendor for ***@müller.de" in text
    assert re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} ERROR ", text)  # time kept
    # the exception object is intact for other handlers; the cached text is the redacted one
    (record,) = keep.records
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert PHONE in str(record.exc_info[1])
    assert logging.Formatter().formatException(record.exc_info).count(PHONE) == 1
    _assert_clean(record.exc_text or "")


def test_stack_info_is_redacted() -> None:
    with isolated_logging():
        setup_logging("INFO")
        out = _capture(logging.getLogger().handlers)
        record = logging.LogRecord(
            "test.redaction", logging.WARNING, __file__, 1, "stack", None, None
        )
        record.stack_info = (
            f'Stack (most recent call last):\n  File "x.py", line 1\n    dial("{PHONE}", "{IRISH}")'
        )
        logging.getLogger("test.redaction").handle(record)
    _assert_clean(out.getvalue())
    assert 'dial("***23", "***@example.com")' in out.getvalue()


def test_coloured_output_is_redacted_between_the_colour_codes() -> None:
    class Coloured(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return f"\x1b[36m{record.getMessage()}\x1b[0m \x1b[1m{EMAIL}\x1b[0m"

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (PHONE,), None)
    text = RedactingFormatter(inner=Coloured()).format(record)
    assert text == "\x1b[36m***23\x1b[0m \x1b[1m***@müller.de\x1b[0m"


def test_formatter_alone_redacts_the_final_text() -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test.redaction.formatter")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            _fail_with_pii()
        except RuntimeError:
            log.exception("call %s", PHONE, stack_info=True)
    finally:
        log.removeHandler(handler)
        log.propagate = True
    assert isinstance(handler.stream, io.StringIO)
    text = handler.stream.getvalue()
    _assert_clean(text)
    assert text.startswith("ERROR call ***23")


def test_filter_alone_redacts_the_traceback_for_a_plain_formatter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flt = RedactingFilter()
    caplog.handler.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction.filter"):
            try:
                _fail_with_pii()
            except RuntimeError:
                logging.getLogger("test.redaction.filter").exception("failed for %s", EMAIL)
    finally:
        caplog.handler.removeFilter(flt)
    _assert_clean(caplog.text)
    assert "failed for ***@müller.de" in caplog.text
    assert "RuntimeError: insert failed: ('***23'" in caplog.text
    assert caplog.records[0].exc_info is not None


def _uvicorn_config(**kwargs: Any) -> uvicorn.Config:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise AssertionError("not served")

    return uvicorn.Config(app, host="127.0.0.1", port=0, log_level="info", **kwargs)


def _log_like_uvicorn() -> None:
    try:
        _fail_with_pii()
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application\n")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:54321",
        "GET",
        f"/twilio/sms/status?From=%2B{PHONE[1:]}&Email=jane%40example.com",
        "1.1",
        500,
    )


def _uvicorn_output() -> io.StringIO:
    return _capture(
        logging.getLogger("uvicorn").handlers + logging.getLogger("uvicorn.access").handlers
    )


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _assert_uvicorn_output(text: str) -> None:
    _assert_clean(text)
    text = _plain(text)
    assert "Exception in ASGI application" in text
    assert "RuntimeError: insert failed: ('***23', '***@example.com')" in text
    assert (
        '127.0.0.1:54321 - "GET /twilio/sms/status?From=***23&Email=***%40example.com HTTP/1.1" 500'
    ) in text


def test_uvicorn_handlers_installed_after_setup_logging_redact() -> None:
    with isolated_logging():
        setup_logging("INFO")
        _uvicorn_config()  # as `comms run` and `comms web` do: uvicorn's dictConfig runs now
        assert not isinstance(
            logging.getLogger("uvicorn").handlers[0].formatter, RedactingFormatter
        )
        out = _uvicorn_output()
        _log_like_uvicorn()
    _assert_uvicorn_output(out.getvalue())


def test_uvicorn_handlers_installed_before_setup_logging_redact() -> None:
    with isolated_logging():
        _uvicorn_config(use_colors=True)
        setup_logging("INFO")
        out = _uvicorn_output()
        _log_like_uvicorn()
    text = out.getvalue()
    assert "\x1b[" in text  # uvicorn's own formatter still does the layout
    _assert_uvicorn_output(text)


def test_uvicorn_without_its_log_config_propagates_to_the_redacting_root() -> None:
    with isolated_logging():
        setup_logging("INFO")
        _uvicorn_config(log_config=None)
        out = _capture(logging.getLogger().handlers)
        _log_like_uvicorn()
    _assert_uvicorn_output(out.getvalue())


def test_guarding_twice_wraps_once() -> None:
    with isolated_logging():
        setup_logging("INFO")
        setup_logging("INFO")
        guard_loggers()
        _uvicorn_config()
        _uvicorn_output()
        _log_like_uvicorn()
        _log_like_uvicorn()
        for name in SERVER_LOGGERS:
            logger = logging.getLogger(name)
            assert len(logger.filters) == 1
            for handler in logger.handlers:
                assert isinstance(handler.formatter, RedactingFormatter)
                assert not isinstance(handler.formatter.inner, RedactingFormatter)
        (root_handler,) = logging.getLogger().handlers
        assert len(root_handler.filters) == 1


@contextmanager
def _serving(app: Callable[..., Any]) -> Iterator[tuple[str, io.StringIO]]:
    """Serve ``app`` as `comms run` does (uvicorn.Config after setup_logging), in a thread."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", lifespan="off")
    server = uvicorn.Server(config)
    out = _uvicorn_output()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", out
    finally:
        server.should_exit = True
        thread.join(5)


def test_a_webhook_returning_500_logs_no_number() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        _fail_with_pii()

    with isolated_logging():
        setup_logging("INFO")
        with _serving(app) as (url, out):
            with pytest.raises(urllib.error.HTTPError) as failed:
                urllib.request.urlopen(f"{url}/twilio/sms/status?From=%2B12125550123", timeout=5)
            assert failed.value.code == 500
        text = out.getvalue()
    _assert_clean(text)
    text = _plain(text)
    assert "Exception in ASGI application" in text
    assert "RuntimeError: insert failed: ('***23', '***@example.com')" in text
    assert '/twilio/sms/status?From=***23 HTTP/1.1" 500' in text
    assert "127.0.0.1:" in text
