"""Text-layer path: words with coordinates from pdfplumber, without covered characters."""

from __future__ import annotations

from typing import Any

from .layout import Word, scale_words
from .visible import covered_chars, disagree


def _words(page: Any) -> list[Word]:
    raw = page.extract_words(keep_blank_chars=False, use_text_flow=False, x_tolerance=1.5)
    return [
        Word(str(w["text"]), float(w["x0"]), float(w["top"]), float(w["x1"]), float(w["bottom"]))
        for w in raw
    ]


def page_words(page: Any) -> list[Word]:
    """Words of a pdfplumber page, scaled to 612 points wide.

    Characters painted over by an opaque fill drawn later are left out; words that overlap
    them keep a lowered confidence (the text layer and the page disagree there).
    """
    try:
        covered = covered_chars(page.layout)
    except Exception:  # an odd layout tree: read every character rather than none
        covered = set()
    if not covered:
        words = _words(page)
    else:

        def hidden(obj: dict[str, Any]) -> bool:
            return (
                obj.get("object_type") == "char"
                and (
                    str(obj.get("text")),
                    round(float(obj.get("x0", 0)), 1),
                    round(float(obj.get("y0", 0)), 1),
                )
                in covered
            )

        words = disagree(_words(page.filter(lambda o: not hidden(o))), _words(page.filter(hidden)))
    return scale_words(words, float(page.width), float(page.height))


def has_values(words: list[Word]) -> bool:
    """A text layer worth reading: enough words, including some digits (filled values)."""
    return len(words) >= 40 and sum(any(c.isdigit() for c in w.text) for w in words) >= 3
