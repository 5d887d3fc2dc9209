"""Redaction of personal data in logs: email local parts and phone numbers (not what only
looks like one: dates, IPv4 addresses, SMTP status codes and queue ids, byte counts).

:func:`redact` cleans free text. For logs, :class:`RedactingFormatter` redacts a handler's
whole output (message, traceback, stack); :class:`RedactingFilter` cleans the record itself
for handlers whose formatter is not ours. ``setup_logging`` (``comms.cli.context``) installs
both on the root logger's handlers and guards the web server's loggers
(:func:`guard_loggers`), whose handlers uvicorn installs itself, before or after.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import Literal

# Characters outside ASCII that can be part of an address (RFC 6531: letters, digits and marks
# of any script): all of them except white space, zero-width characters and the punctuation
# that usually surrounds an address in text (quotes, guillemets, dashes, ideographic and
# fullwidth punctuation, among them the ideographic full stops handled as label dots below).
_NON_ASCII = (
    r"[^\x00-\x7f\s\u00a1\u00ab\u00b7\u00bb\u00bf\u200b-\u200f\u2010-\u2027\u2030-\u205e"
    r"\u2060\ufeff\u3000-\u3003\u3008-\u3011\u3014-\u301f\uff01-\uff0f\uff1a-\uff20"
    r"\uff3b-\uff40\uff5b-\uff65]"
)
# RFC 5322 atext, dots allowed anywhere (lenient). An address is taken to start at a letter,
# digit or one of "!#$%*+^_~"; the other atext characters and the dot lead the run without
# being redacted ("'ops@x.org'" in a repr keeps its quote, "https://user@host" its slashes).
# A match starts only where a run of these characters starts (the lookbehinds), so a run is
# tried from one place, not from each of its characters, and the scan stays linear. (No
# possessive quantifiers: Python 3.11.2's matcher gets some of them wrong.)
_FIRST = r"A-Za-z0-9!#$%*+^_~"
_LEAD = r"'`{|}/=?&.\-"
_LOCAL_FIRST = rf"(?:[{_FIRST}]|{_NON_ASCII})"
_LOCAL_REST = rf"(?:[{_FIRST}{_LEAD}]|{_NON_ASCII})"
_DOT_ATOM = (
    rf"(?<![{_FIRST}{_LEAD}])(?<!{_NON_ASCII})(?P<lead>[{_LEAD}]*){_LOCAL_FIRST}{_LOCAL_REST}*"
)
_QUOTED = r'"(?:[^"\\\r\n]|\\.){1,64}"'
# "%40" is "@" in a URL or a form body (an access log's request line); there the local part
# is percent-encoded, and "/", "?", "=", "&" belong to the URL ("?to=jane%40x.org").
_URL_CHAR = r"A-Za-z0-9!#$*+^_~.'\-"
_URL_LOCAL = rf"(?<![{_URL_CHAR}%])(?<!{_NON_ASCII})(?:[{_URL_CHAR}]|{_NON_ASCII}|%(?!40))+"
_LABEL = rf"(?:[A-Za-z0-9-]|{_NON_ASCII})+"
_LABEL_DOT = r"[.\u3002\uff0e\uff61]"
# The last label (the top-level domain) starts with a letter: "pkg@1.2.3" is not an address.
_TLD = rf"(?:[A-Za-z]|{_NON_ASCII})(?:[A-Za-z0-9-]|{_NON_ASCII})*"
_DOMAIN = rf"{_LABEL}(?:{_LABEL_DOT}{_LABEL})*{_LABEL_DOT}{_TLD}|\[[^\[\]\s]{{1,255}}\]"
_EMAIL = re.compile(
    rf"(?:(?:{_QUOTED}|{_DOT_ATOM})@|{_URL_LOCAL}(?P<encoded>%40))(?P<domain>{_DOMAIN})"
)

# A phone number: digits with the usual separators, not glued to a word, and not the end of
# a time (after "digit:", as the seconds of "02:21:28.123456"); "tel:+1…" is still one, and
# so is "%2B1…" (a URL-encoded "+").
_PHONE_PATTERN = r"(?<![\w])(?<!\d:)(?:\+|%2[Bb])?\d[\d ().-]{6,}\d(?![\w])"
# ISO 8601 dates and datetimes ("2026-11-29", "2026-11-29T02:21:28.123456+00:00") would read
# as phone numbers (eight digits and dashes); they are matched first and kept as they are.
_ISO_DATETIME = (
    r"(?<![\w])\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w])"
)
# So are IPv4 addresses (a web server's client address, "127.0.0.1:51234"): four octets of at
# most 255 without leading zeros; "079.123.45.67" or "1.212.555.0142" are still phone numbers.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\w|\.\d)"
# And SMTP replies: a reply code and its enhanced status code ("250 2.0.0 queued as 5",
# "550-5.1.1"), which carry no personal data and say what the server did.
_SMTP_STATUS = r"(?<![\w.])[2-5]\d\d[ -][2-5]\.\d{1,3}\.\d{1,3}(?![\w]|\.\d)"
# The queue id a server gives in its reply ("250 2.0.0 Ok: queued as 20391847").
_QUEUE_ID = r"(?<=[Qq]ueued as )[A-Za-z0-9._-]+"
# And byte counts: a plain run of digits (no "+", no separators) followed by a unit ("28311552
# bytes", "10 MB"), or given for a setting or field named in bytes ("MAX_MESSAGE_BYTES
# (26214400)", "raw_bytes=28311552"). A number written with separators, or after a "+", is
# still a phone number, unit or not.
_BYTE_COUNT = r"(?<![\w+.%-])\d+(?=[ \t-]?(?:(?i:bytes?)|[KMGT]i?B|B)(?!\w))"
_BYTES_FIELD = r"(?i:bytes?)[ \t]*[(=:][ \t]*\d+(?![\w]|[ ().-]\d)"
_KEPT = f"{_ISO_DATETIME}|{_IPV4}|{_SMTP_STATUS}|{_QUEUE_ID}|{_BYTE_COUNT}|{_BYTES_FIELD}"
_PHONE = re.compile(f"(?P<keep>{_KEPT})|(?P<phone>{_PHONE_PATTERN})")

# The web server's loggers: uvicorn configures their handlers itself (its own log_config).
SERVER_LOGGERS: tuple[str, ...] = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def redact_email(address: str) -> str:
    if "@" not in address:
        return address
    _local, domain = address.rsplit("@", 1)
    return f"***@{domain}"


def redact_phone(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    if len(digits) < 4:
        return "***"
    return "***" + digits[-2:]


def _address(match: re.Match[str]) -> str:
    lead = match.group("lead") or ""
    return f"{lead}***{match.group('encoded') or '@'}{match.group('domain')}"


def _phone_or_kept(match: re.Match[str]) -> str:
    return match.group(0) if match.group("keep") else redact_phone(match.group(0))


def redact(text: str) -> str:
    """Replace every email local part and phone number in free text."""
    text = _EMAIL.sub(_address, text)
    return _PHONE.sub(_phone_or_kept, text)


_PLAIN = logging.Formatter()
# Terminal colour codes ("\x1b[36m"): a coloured number follows an "m", which would glue it
# to a word; coloured output is redacted piece by piece between the codes.
_SGR = re.compile(r"(\x1b\[[0-9;]*m)")


def _redact_output(text: str) -> str:
    if "\x1b[" not in text:
        return redact(text)
    return "".join(part if i % 2 else redact(part) for i, part in enumerate(_SGR.split(text)))


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output is redacted: message, traceback and stack.

    With ``inner`` it wraps another formatter, so a handler keeps its layout (uvicorn's
    coloured level prefix, its access-log line); without, it formats like
    :class:`logging.Formatter` with the given format. The record's ``exc_info`` is left
    alone; the traceback text the formatter caches on the record (``exc_text``, which later
    handlers reuse) is left redacted.
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Literal["%", "{", "$"] = "%",
        *,
        inner: logging.Formatter | None = None,
    ) -> None:
        super().__init__(fmt, datefmt, style)
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record) if self.inner is not None else super().format(record)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return _redact_output(text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the record: its message, traceback text and stack.

    The message is formatted with its arguments and redacted (``args`` dropped). The traceback
    is rendered into the record's ``exc_text`` cache (as :class:`logging.Formatter` would) and
    redacted there, so any formatter prints the redacted text; ``exc_info`` itself is kept
    for handlers that read the exception object. Not for handlers that need ``args``
    (uvicorn's access log): those get a :class:`RedactingFormatter` only.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _PLAIN.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def redact_handler(handler: logging.Handler, *, record_filter: bool = True) -> None:
    """Make a handler's output redacted: wrap its formatter, and add the filter if asked."""
    handler.acquire()
    try:
        if not isinstance(handler.formatter, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(inner=handler.formatter))
        if record_filter and not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    finally:
        handler.release()


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Redact every handler of the root (or given) logger: formatter and filter."""
    target = logger or logging.getLogger()
    for handler in list(target.handlers):
        redact_handler(handler)


def reachable_handlers(logger: logging.Logger) -> Iterator[logging.Handler]:
    """The handlers a record logged on ``logger`` reaches (as ``Logger.callHandlers`` walks)."""
    current: logging.Logger | None = logger
    while current is not None:
        yield from list(current.handlers)
        if not current.propagate:
            break
        current = current.parent


class HandlerGuard(logging.Filter):
    """A logger's filter that redacts, before each record, every handler the record reaches.

    Logger filters outlive ``logging.config.dictConfig`` (it replaces a logger's handlers,
    not its filters), so handlers installed after :func:`guard_loggers` (uvicorn's, when
    ``uvicorn.Config`` is created) get a :class:`RedactingFormatter` before their first
    record. Only the formatter: uvicorn's access formatter needs the record's ``args``.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        for handler in reachable_handlers(self.logger):
            if not isinstance(handler.formatter, RedactingFormatter):
                redact_handler(handler, record_filter=False)
        return True


def guard_loggers(names: Iterable[str] = SERVER_LOGGERS) -> None:
    """Redact the output of the named loggers, whenever their handlers are installed."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, HandlerGuard) for f in logger.filters):
            logger.addFilter(HandlerGuard(logger))
        for handler in reachable_handlers(logger):
            redact_handler(handler, record_filter=False)
