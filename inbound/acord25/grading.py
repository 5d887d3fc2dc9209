"""Field-level grading of an extraction against an expected.json-style dict."""

from __future__ import annotations

from typing import Any

from .normalize import compare_key
from .schema import flatten


def grade(expected: dict[str, Any], got: dict[str, Any]) -> tuple[int, int, list[str]]:
    """Return (right, graded, mismatched paths). Keys the expected leaves out are not graded."""
    exp = flatten(expected)
    have = flatten(got)
    wrong = [k for k, v in exp.items() if compare_key(have.get(k)) != compare_key(v)]
    return len(exp) - len(wrong), len(exp), wrong
