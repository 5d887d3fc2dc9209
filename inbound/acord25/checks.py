"""Values with a known shape are checked; one that fails is flagged (doubtful), never corrected.

- a NAIC code is five digits;
- a limit is a round amount (whole thousands) and not absurd;
- the edition is one that ACORD published;
- a policy runs forward, for a plausible term, and the dates are of this era;
- an OCR'd policy number does not end in a stray one- or two-character token ("6089057 11").
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from .schema import DOUBT_THRESHOLD, flatten

PUBLISHED_EDITIONS = frozenset({"2001/08", "2009/09", "2010/05", "2014/01", "2016/03"})
FLAGGED = round(DOUBT_THRESHOLD - 0.2, 3)
MAX_LIMIT = 500_000_000
_LIMIT = re.compile(r"policies\[\d+\]\.limits\.\w+")
_NAIC = re.compile(r"insurers\.[A-F]\.naic")
_POLICY = re.compile(r"(policies\[\d+\])\.(effective|expiration)")
_NUMBER = re.compile(r"policies\[\d+\]\.policy_number")


def _iso(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _plausible_date(d: date | None) -> bool:
    return d is not None and 1990 <= d.year <= 2100


def shape_problem(path: str, value: Any, values: dict[str, Any], source: str) -> str | None:
    """Why `value` at `path` does not have its field's shape, or None when it does."""
    if _NAIC.fullmatch(path):
        return None if re.fullmatch(r"\d{5}", str(value)) else "a NAIC code has five digits"
    if _LIMIT.fullmatch(path):
        if not isinstance(value, int) or value <= 0 or value > MAX_LIMIT or value % 1000:
            return "a limit is a round amount"
        return None
    if path == "edition":
        return None if value in PUBLISHED_EDITIONS else "not a published ACORD 25 edition"
    if path == "date":
        return None if _plausible_date(_iso(value)) else "an implausible date"
    m = _POLICY.fullmatch(path)
    if m:
        eff = _iso(values.get(f"{m.group(1)}.effective"))
        exp = _iso(values.get(f"{m.group(1)}.expiration"))
        if not _plausible_date(_iso(value)):
            return "an implausible date"
        if eff and exp and not 0 <= (exp - eff).days <= 3 * 366 + 1:
            return "the policy term is implausible"
        return None
    stray = re.search(r"\s\S{1,2}$", str(value))
    if _NUMBER.fullmatch(path) and source == "ocr" and stray:
        return "a stray token after the policy number"
    return None


def flag_shapes(data: dict[str, Any], conf: dict[str, float], source: str) -> list[str]:
    """Lower the confidence of every value whose shape is wrong; return the reasons."""
    values = flatten(data)
    reasons: list[str] = []
    for path, value in values.items():
        if value is None or path not in conf:
            continue
        why = shape_problem(path, value, values, source)
        if why is not None:
            conf[path] = min(conf[path], FLAGGED)
            reasons.append(f"{path} {value!r}: {why}")
    return reasons
