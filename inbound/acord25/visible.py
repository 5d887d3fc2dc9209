"""Only the text a reader sees: drop text-layer words that are covered, invisible or clipped.

Edited certificates often keep the old values under the new ones: painted over by an opaque
box drawn later, written in render mode 3 (invisible), or clipped away. Two checks, both cheap:

- stream order (pdfminer's layout keeps it): a character is covered when a filled shape drawn
  after it contains its centre;
- the rendered page: a word with (nearly) no ink under its box is not visible, whatever the
  reason (render mode 3, a clip path, white on white).

Where a dropped word overlaps a kept one, the text layer and the rendered page disagree about
that spot, so the kept word's confidence is lowered: neither view is trusted there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from PIL import Image

from .layout import Word

DISAGREE_CONF = 0.7
MIN_INK = 0.012  # share of dark pixels under a visible word's box
_Key = tuple[str, float, float]


def _key(text: str, x0: float, y0: float) -> _Key:
    return (text, round(x0, 1), round(y0, 1))


def _walk(objs: Iterable[Any]) -> Iterator[Any]:
    for obj in objs:
        kids = getattr(obj, "_objs", None)
        name = type(obj).__name__
        if kids is not None and (name == "LTFigure" or name.startswith("LTText")):
            yield from _walk(kids)
        else:
            yield obj


def covered_chars(layout: Any) -> set[tuple[_Key, int]]:
    """(key, n): the n-th character with key (text, x0, y0), in drawing order, that an opaque
    fill drawn later paints over. Retyped text often sits exactly on the old, hence the n."""
    seen: list[tuple[tuple[_Key, int], float, float]] = []
    count: dict[_Key, int] = {}
    covered: set[tuple[_Key, int]] = set()
    for obj in _walk(getattr(layout, "_objs", [])):
        name = type(obj).__name__
        if name == "LTChar":
            x0, y0, x1, y1 = obj.bbox
            key = _key(obj.get_text(), x0, y0)
            count[key] = count.get(key, 0) + 1
            seen.append(((key, count[key]), (x0 + x1) / 2, (y0 + y1) / 2))
        elif name in {"LTRect", "LTCurve"} and getattr(obj, "fill", False):
            x0, y0, x1, y1 = obj.bbox
            if x1 - x0 < 3 or y1 - y0 < 3:
                continue  # a rule or a tick, not a cover
            for ident, cx, cy in seen:
                if x0 <= cx <= x1 and y0 <= cy <= y1:
                    covered.add(ident)
    return covered


def char_key(obj: dict[str, Any]) -> _Key:
    return _key(str(obj.get("text")), float(obj.get("x0", 0)), float(obj.get("y0", 0)))


def inked(img: Image.Image, scale: float, w: Word) -> float:
    """Share of dark pixels under a word's box (page points times `scale` = pixels)."""
    box = (
        max(0, int(w.x0 * scale)),
        max(0, int(w.top * scale)),
        min(img.width, int(w.x1 * scale) + 1),
        min(img.height, int(w.bottom * scale) + 1),
    )
    if box[2] <= box[0] or box[3] <= box[1]:
        return 0.0
    hist = img.crop(box).histogram()
    total = sum(hist)
    return sum(hist[:230]) / total if total else 0.0  # any colour but paper white


def _overlap(a: Word, b: Word) -> bool:
    ix = min(a.x1, b.x1) - max(a.x0, b.x0)
    iy = min(a.bottom, b.bottom) - max(a.top, b.top)
    return ix > 0.5 and iy > 0.3 * min(a.bottom - a.top, b.bottom - b.top)


def keep_visible(
    words: list[Word], img: Image.Image | None, scale: float
) -> tuple[list[Word], list[Word]]:
    """(visible words, dropped words); visible words overlapping a dropped one lose confidence."""
    if img is None:
        return words, []
    kept: list[Word] = []
    dropped: list[Word] = []
    for w in words:
        (kept if inked(img, scale, w) >= MIN_INK else dropped).append(w)
    return disagree(kept, dropped), dropped


def disagree(kept: list[Word], dropped: list[Word]) -> list[Word]:
    if not dropped:
        return kept
    out: list[Word] = []
    for w in kept:
        if any(_overlap(w, d) for d in dropped):
            w = Word(w.text, w.x0, w.top, w.x1, w.bottom, min(w.conf, DISAGREE_CONF))
        out.append(w)
    return out


def mark_probe(img: Image.Image, scale: float) -> Any:
    """Ink share inside a box (page points), ignoring rows and columns that are a ruling line.

    A check mark is a short stroke; a rule crossing the box darkens a whole pixel row or column
    of it, so such rows and columns are left out before counting.
    """

    def probe(x0: float, top: float, x1: float, bottom: float) -> float:
        box = (
            max(0, int(x0 * scale)),
            max(0, int(top * scale)),
            min(img.width, int(x1 * scale)),
            min(img.height, int(bottom * scale)),
        )
        w, h = box[2] - box[0], box[3] - box[1]
        if w <= 0 or h <= 0:
            return 0.0
        px = img.crop(box).tobytes()
        dark = [[px[r * w + c] < 128 for c in range(w)] for r in range(h)]
        rows = [r for r in range(h) if sum(dark[r]) < 0.8 * w]
        cols = [c for c in range(w) if sum(dark[r][c] for r in range(h)) < 0.8 * h]
        if not rows or not cols:
            return 0.0
        return sum(dark[r][c] for r in rows for c in cols) / (len(rows) * len(cols))

    return probe
