"""Repair of coverage labels whose print or OCR dropped thin letters (i, l, I, L, t, f)."""

from __future__ import annotations

import re

KNOWN_LABELS: tuple[str, ...] = (
    "Professional Liability",
    "Errors & Omissions",
    "3rd Party Crime",
    "Crime",
    "Cyber Liability",
    "Liquor Liability",
    "Garage Keepers Liability",
    "Garagekeepers Legal Liability",
    "Inland Marine",
    "Property",
    "Builders Risk",
    "Pollution Liability",
    "Employment Practices Liability",
    "Directors & Officers",
    "Motor Truck Cargo",
    "On-Hook/Cargo",
    "Installation Floater",
    "Contractors Equipment",
    "Fidelity Bond",
    "Hired & Non-Owned Auto",
    "Employee Benefits Liability",
)
_THIN = re.compile(r"[\sIiLl1|!tf.]")


def _skeleton(text: str) -> str:
    return _THIN.sub("", text).lower()


def repair_label(text: str) -> str:
    """Return the known label whose letters-minus-thin-letters equal the text's, else text."""
    if text in KNOWN_LABELS:
        return text
    sk = _skeleton(text)
    if len(sk) < 4:
        return text
    for label in KNOWN_LABELS:
        if _skeleton(label) == sk:
            return label
    return text
