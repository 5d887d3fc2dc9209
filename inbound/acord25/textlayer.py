"""Text-layer path: words with coordinates from pdfplumber, without covered characters."""

from __future__ import annotations

from typing import Any

from .layout import Word, scale_words
from .visible import char_key, covered_chars, disagree


def _words(page: Any) -> list[Word]:
    raw = page.extract_words(keep_blank_chars=False, use_text_flow=False, x_tolerance=1.5)
    words: list[Word] = []
    for w in raw:
        x0, top, x1, bottom = (float(w[k]) for k in ("x0", "top", "x1", "bottom"))
        last = words[-1] if words else None
        if last is not None and abs(last.top - top) < 0.5 and -0.5 < x0 - last.x1 < 0.3:
            # letters placed one by one (character spacing) touch: one word, not five
            words[-1] = Word(
                last.text + str(w["text"]), last.x0, last.top, x1, max(bottom, last.bottom)
            )
        else:
            words.append(Word(str(w["text"]), x0, top, x1, bottom))
    return words


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
        count: dict[tuple[str, float, float], int] = {}
        hidden_ids: set[int] = set()
        for ch in page.chars:  # the same drawing order as the layout walk
            key = char_key(ch)
            count[key] = count.get(key, 0) + 1
            if (key, count[key]) in covered:
                hidden_ids.add(id(ch))

        def hidden(obj: dict[str, Any]) -> bool:
            return id(obj) in hidden_ids

        words = disagree(_words(page.filter(lambda o: not hidden(o))), _words(page.filter(hidden)))
    return scale_words(words, float(page.width), float(page.height))


def has_values(words: list[Word]) -> bool:
    """A text layer worth reading: enough words, including some digits (filled values)."""
    return len(words) >= 40 and sum(any(c.isdigit() for c in w.text) for w in words) >= 3
