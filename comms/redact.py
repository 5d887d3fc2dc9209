"""Redaction of personal data in logs: email local parts and phone numbers."""

from __future__ import annotations

import logging
import re

_EMAIL = re.compile(r"(?<![\w.+-])([\w.+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# A phone number: digits with the usual separators, not glued to a word, and not the end of
# a time (after "digit:", as the seconds of "02:21:28.123456"); "tel:+1…" is still one.
_PHONE_PATTERN = r"(?<![\w])(?<!\d:)\+?\d[\d ().-]{6,}\d(?![\w])"
# ISO 8601 dates and datetimes ("2026-11-29", "2026-11-29T02:21:28.123456+00:00") would read
# as phone numbers (eight digits and dashes); they are matched first and kept as they are.
_ISO_DATETIME = (
    r"(?<![\w])\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w])"
)
_PHONE = re.compile(f"(?P<iso>{_ISO_DATETIME})|(?P<phone>{_PHONE_PATTERN})")


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


def redact(text: str) -> str:
    """Replace every email local part and phone number in free text."""
    text = _EMAIL.sub(lambda m: f"***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: m.group(0) if m.group("iso") else redact_phone(m.group(0)), text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the redacting filter to every handler of the root (or given) logger."""
    target = logger or logging.getLogger()
    flt = RedactingFilter()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
