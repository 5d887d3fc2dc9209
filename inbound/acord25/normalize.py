"""Normalization of dates, money, marks and OCR slips."""

from __future__ import annotations

import re
from datetime import date

_DIGIT_SLIPS = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "Q": "0",
        "l": "1",
        "I": "1",
        "|": "1",
        "i": "1",
        "S": "5",
        "s": "5",
        "B": "8",
        "Z": "2",
        "z": "2",
        "g": "9",
    }
)
_D = r"[0-9OoIlS|]"
_DATE_RE = re.compile(rf"({_D}{{1,2}})\s*[/\-.]\s*({_D}{{1,2}})\s*[/\-.]\s*({_D}{{2,4}})")


_ISO_RE = re.compile(r"(?<!\d)((?:19|20)\d\d)-(\d{2})-(\d{2})(?!\d)")


def repair_digits(text: str) -> str:
    """Replace letters commonly misread for digits (O->0, l/I->1, S->5) in numeric context."""
    return text.translate(_DIGIT_SLIPS)


def parse_date(text: str | None) -> str | None:
    """MM/DD/YYYY, M/D/YYYY or MM/DD/YY -> ISO date string, else None."""
    if not text:
        return None
    iso = _ISO_RE.search(text)
    if iso:  # 2025-01-15, as some agency systems print it
        try:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3))).isoformat()
        except ValueError:
            return None
    m = _DATE_RE.search(text)
    if not m:
        return None
    mo, dy, yr = (repair_digits(g) for g in m.groups())
    try:
        month, day, year = int(mo), int(dy), int(yr)
    except ValueError:
        return None
    if len(yr) == 2:
        year += 2000 if year < 70 else 1900
    elif len(yr) == 3:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def looks_like_date(text: str) -> bool:
    return parse_date(text) is not None


def parse_money(text: str | None) -> int | None:
    """'$1,000,000', '1 000 000', '1,000,000.00', 'l,OOO,OOO' -> whole dollars.

    The caller vouches for numeric context (the text sits in a limit cell), so letters that
    OCR confuses with digits are repaired inside tokens that are otherwise numeric.
    """
    if not text:
        return None
    dollar = re.search(r"\$\s*(?=[\dOolIS])", text)
    if dollar:  # the amount follows the dollar sign; anything before it is noise
        text = text[dollar.end() :]
    tokens = [t for t in re.split(r"[\s$]+", text.strip()) if t]
    parts: list[str] = []
    for tok in tokens:
        fixed = repair_digits(tok) if _numeric_token(tok) else tok
        if not re.fullmatch(r"[\d,.']+", fixed):
            if parts:
                break
            continue
        if parts and not re.fullmatch(r"\d{3}([.,]\d{2})?", fixed):
            break
        parts.append(fixed)
    if not parts:
        return None
    raw = "".join(parts)
    cents = re.search(r"[.,](\d{2})$", raw)
    if cents:
        raw = raw[: cents.start()]
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return None
    value = int(digits)
    return value if value < 10**12 else None


def _numeric_token(tok: str) -> bool:
    core = re.sub(r"[,.']", "", tok)
    if not core:
        return False
    slips = sum(c in "OoQlI|iSsBZzg" for c in core)
    digits = sum(c.isdigit() for c in core)
    return digits + slips == len(core) and (digits > 0 or len(core) >= 3)


def parse_mark(text: str | None) -> bool | None:
    """'X', 'Y', 'x', '[X]' -> True; 'N' -> False; empty/other -> None."""
    if text is None:
        return None
    t = re.sub(r"[\s\[\]\(\)|]", "", text).upper()
    if not t:
        return None
    if t in {"X", "Y", "YES", "XX", "✓", "✔", "×", "K", "><", "✖", "✕", "✗", "✘", "☒"}:
        return True
    if t in {"N", "NO"}:
        return False
    return None


def clean_text(text: str | None) -> str | None:
    """Collapse whitespace, straighten quotes, add the space after a comma before a word."""
    if text is None:
        return None
    t = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    t = t.replace("\u201d", '"')
    t = re.sub(r",(?=[A-Za-z])", ", ", t)
    t = re.sub(r"(?:(?<=\s)|^)[.,_'\"`~|:;\u2014\u2013]+(?=\s|$)", " ", t)  # OCR specks
    t = re.sub(r"(^|\s)[_'\"`~|]+(?=\w)", r"\1", t)
    t = re.sub(r"\s+", " ", t).strip(" ,;:|\u2014\u2013-_~'\"")
    return t or None


def compare_key(value: object) -> object:
    """Normalized form for grading: case/whitespace-insensitive strings, ISO dates, ints."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return int(value)
    s = clean_text(str(value)) or ""
    return re.sub(r"\s+", "", s).lower()
