"""Text-layer path: words with coordinates from pdfplumber."""

from __future__ import annotations

from typing import Any

from .layout import Word, scale_words


def page_words(page: Any) -> list[Word]:
    """Words of a pdfplumber page, scaled to 612 points wide."""
    raw = page.extract_words(keep_blank_chars=False, use_text_flow=False, x_tolerance=1.5)
    words = [
        Word(str(w["text"]), float(w["x0"]), float(w["top"]), float(w["x1"]), float(w["bottom"]))
        for w in raw
    ]
    return scale_words(words, float(page.width), float(page.height))


def has_values(words: list[Word]) -> bool:
    """A text layer worth reading: enough words, including some digits (filled values)."""
    return len(words) >= 40 and sum(any(c.isdigit() for c in w.text) for w in words) >= 3
