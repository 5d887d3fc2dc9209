"""Only the text a reader sees: drop text-layer words that are covered, invisible or clipped.

Edited certificates often keep the old values under the new ones: painted over by an opaque
box drawn later, written in render mode 3 (invisible), or clipped away. Three checks, all cheap:

- the render mode of each character's text object (textlayer.py);
- drawing order (pdfium's page objects keep it): a character is covered when an opaque filled
  shape drawn after it contains its centre;
- the rendered page: a word with (nearly) no ink under its box is not visible, whatever the
  reason (a clip path, white on white).

Where a dropped word overlaps a kept one, the text layer and the rendered page disagree about
that spot, so the kept word's confidence is lowered: neither view is trusted there.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import pypdfium2.raw as pdfium_c
from PIL import Image

from .layout import Word

DISAGREE_CONF = 0.7
MIN_INK = 0.012  # share of dark pixels under a visible word's box
OPAQUE = 230  # fill alpha (of 255) from which a filled shape hides what lies under it
MIN_COVER = 3.0  # points: a thinner filled shape is a rule or a tick, not a cover
MAX_OBJECTS = 200_000  # page objects walked at most (a hostile page may hold millions)


@dataclass(frozen=True)
class Fill:
    """An opaque filled shape: its place in drawing order and its box in PDF user space."""

    order: int
    x0: float
    y0: float
    x1: float
    y1: float


_Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: _Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _times(m: _Matrix, n: _Matrix) -> _Matrix:
    """m then n (row-vector convention, as PDF matrices compose)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    )


def _bounds(obj: Any, m: _Matrix) -> tuple[float, float, float, float] | None:
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    if not pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
        return None
    pts = [(x, y) for x in (left.value, right.value) for y in (bottom.value, top.value)]
    xs = [x * m[0] + y * m[2] + m[4] for x, y in pts]
    ys = [x * m[1] + y * m[3] + m[5] for x, y in pts]
    return min(xs), min(ys), max(xs), max(ys)


def _opaque_fill(obj: Any) -> bool:
    fillmode, stroke = ctypes.c_int(), ctypes.c_int()
    if not pdfium_c.FPDFPath_GetDrawMode(obj, fillmode, stroke) or fillmode.value == 0:
        return False
    r, g, b, a = (ctypes.c_uint() for _ in range(4))
    known = pdfium_c.FPDFPageObj_GetFillColor(obj, r, g, b, a)
    return not known or a.value >= OPAQUE


def fills_and_order(page: Any) -> tuple[list[Fill], dict[int, int]]:
    """The page's opaque fills and, for each text object (by address), its place in drawing
    order; form XObjects are walked into, their fills mapped to page space."""
    fills: list[Fill] = []
    order: dict[int, int] = {}
    n = 0
    count = pdfium_c.FPDFPage_CountObjects(page.raw)
    stack: list[tuple[Any, int, int, _Matrix]] = [(None, 0, count, _IDENTITY)]
    while stack and n < MAX_OBJECTS:
        form, i, total, m = stack.pop()
        if i >= total:
            continue
        stack.append((form, i + 1, total, m))
        obj = (
            pdfium_c.FPDFPage_GetObject(page.raw, i)
            if form is None
            else pdfium_c.FPDFFormObj_GetObject(form, i)
        )
        if not obj:
            continue
        n += 1
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_TEXT:
            order[ctypes.cast(obj, ctypes.c_void_p).value or 0] = n
        elif kind == pdfium_c.FPDF_PAGEOBJ_PATH and _opaque_fill(obj):
            box = _bounds(obj, m)
            if box and box[2] - box[0] >= MIN_COVER and box[3] - box[1] >= MIN_COVER:
                fills.append(Fill(n, *box))
        elif kind == pdfium_c.FPDF_PAGEOBJ_FORM:
            fm = pdfium_c.FS_MATRIX()
            inner = _IDENTITY
            if pdfium_c.FPDFPageObj_GetMatrix(obj, fm):
                inner = (fm.a, fm.b, fm.c, fm.d, fm.e, fm.f)
            stack.append((obj, 0, pdfium_c.FPDFFormObj_CountObjects(obj), _times(inner, m)))
    return fills, order


def covered(cx: float, cy: float, order: int, fills: list[Fill]) -> bool:
    """Whether a fill drawn after the character (at drawing position `order`) contains its
    centre (cx, cy), in PDF user space."""
    return any(f.order > order and f.x0 <= cx <= f.x1 and f.y0 <= cy <= f.y1 for f in fills)


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


def overprinted(words: list[Word]) -> list[Word]:
    """Words printed over other words (text typed on top of old text without hiding it, so the
    page itself shows both) keep a lowered confidence: neither reading can be trusted."""
    flagged: set[int] = set()
    active: list[int] = []  # words reaching right of the current word's start
    for i in sorted(range(len(words)), key=lambda i: words[i].x0):
        w = words[i]
        active = [j for j in active if words[j].x1 > w.x0 + 0.5]
        for j in active:
            o = words[j]
            if o.text == w.text:
                continue  # the same word drawn twice (a bold effect) reads the same
            iy = min(o.bottom, w.bottom) - max(o.top, w.top)
            ix = min(o.x1, w.x1) - max(o.x0, w.x0)
            if iy > 0.5 * min(o.bottom - o.top, w.bottom - w.top) and ix > 0.3 * min(
                o.x1 - o.x0, w.x1 - w.x0
            ):
                flagged |= {i, j}
        active.append(i)
    if not flagged:
        return words
    return [
        Word(w.text, w.x0, w.top, w.x1, w.bottom, min(w.conf, DISAGREE_CONF)) if i in flagged else w
        for i, w in enumerate(words)
    ]


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
