"""Parsers for the values people type into roster spreadsheets. Each raises ValueError."""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache

import phonenumbers

from comms.coverage import coverage_key

_MONEY_SUFFIX = {"k": 1_000, "m": 1_000_000, "mm": 1_000_000, "b": 1_000_000_000}
_MONEY = re.compile(r"^\$?\s*([0-9][0-9,\s]*(?:\.[0-9]+)?)\s*(k|m|mm|b)?$", re.IGNORECASE)
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_TRUE = frozenset({"yes", "y", "true", "t", "x", "1"})
_FALSE = frozenset({"no", "n", "false", "f", "", "0"})


def parse_money(raw: object) -> int | None:
    """Whole dollars from "$1,000,000", "1 000 000", "1000000.00" or "1M"; blank is None."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError(f"not an amount: {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw != int(raw):
            raise ValueError(f"not a whole-dollar amount: {raw!r}")
        return int(raw)
    text = str(raw).strip().replace("\u00a0", " ")
    if not text:
        return None
    match = _MONEY.match(text)
    if not match:
        raise ValueError(f"not an amount: {text!r}")
    number = match.group(1).replace(",", "").replace(" ", "")
    suffix = (match.group(2) or "").lower()
    value = float(number) if "." in number else int(number)
    value = value * _MONEY_SUFFIX.get(suffix, 1)
    if value != int(value):
        raise ValueError(f"not a whole-dollar amount: {text!r}")
    return int(value)


@lru_cache(maxsize=4096)
def _parse_date_text(text: str) -> date:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    match = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})", text)
    if not match:
        raise ValueError(f"not a date (use YYYY-MM-DD or MM/DD/YYYY): {text!r}")
    month, day, year = (int(g) for g in match.groups())
    if len(match.group(3)) == 2:
        year += 2000 if year < 70 else 1900
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"not a real date: {text!r} ({exc})") from None


def parse_date(raw: object) -> date | None:
    """ISO, MM/DD/YYYY and M/D/YY; blank is None; spreadsheet dates pass through."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    if not text:
        return None
    if len(text) > 10 and text[10] in " T" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text[:10]):
        text = text[:10]  # "2024-05-01 00:00:00" from a spreadsheet export
    return _parse_date_text(text)


def parse_bool(raw: object) -> bool:
    """yes/no, y/n, true/false, and x or blank."""
    if isinstance(raw, bool):
        return raw
    text = "" if raw is None else str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not yes/no: {raw!r}")


_NANP_CHARS = re.compile(r"^\+?[0-9 ().\-]{10,20}$")
_NANP_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


_NANP_PUNCTUATION = str.maketrans("", "", "+ ().-")


@lru_cache(maxsize=64)
def _nanp_pattern(region: str) -> re.Pattern[str] | None:
    """The number-type patterns of a North American region, straight from phonenumbers'
    metadata, as one alternation. Matching them is what `is_valid_number` does, minus its
    general overhead."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.country_code != 1:
        return None
    out = []
    for name in _NANP_TYPES:
        desc = getattr(meta, name, None)
        pattern = getattr(desc, "national_number_pattern", None)
        if pattern:
            out.append(f"(?:{pattern})")
    return re.compile("|".join(dict.fromkeys(out))) if out else None  # fixed line == mobile


def _fast_nanp(text: str, region: str) -> str | None:
    """E.164 for a plain North American number valid in `region`, else None (slow path)."""
    pattern = _nanp_pattern(region)
    if pattern is None or not _NANP_CHARS.match(text):
        return None
    digits = text.translate(_NANP_PUNCTUATION)  # the characters _NANP_CHARS allows
    if text.startswith("+") or len(digits) == 11:
        if len(digits) != 11 or digits[0] != "1":
            return None
        digits = digits[1:]
    if len(digits) != 10:
        return None
    if pattern.fullmatch(digits):
        return "+1" + digits
    return None


@lru_cache(maxsize=65536)
def parse_phone(raw: str, region: str) -> str:
    """Normalize to E.164; raise ValueError when the number is not valid."""
    text = raw.strip()
    fast = _fast_nanp(text, region)
    if fast is not None:
        return fast
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {text!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number: {text!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_optional_phone(raw: object, region: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, float) and raw == int(raw):
        raw = str(int(raw))
    text = str(raw).strip()
    return parse_phone(text, region) if text else None


@lru_cache(maxsize=65536)
def parse_email(raw: str) -> str:
    text = raw.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    if not _EMAIL.match(text) or ".." in text or len(text) > 254:
        raise ValueError(f"not an email address: {raw.strip()!r}")
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def parse_optional_email(raw: object) -> str | None:
    text = "" if raw is None else str(raw).strip()
    return parse_email(text) if text else None


def parse_coverage(raw: object) -> str | None:
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None
    key = coverage_key(text)
    if key is None:
        raise ValueError(
            f"unknown coverage {text!r}; use General Liability, Auto, Umbrella, Excess, "
            "Workers Comp or Other"
        )
    return key
