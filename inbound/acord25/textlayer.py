"""Text-layer path: words with coordinates from pdfium's characters, without hidden ones.

pdfium (C++) lists a page's characters with their boxes in a few milliseconds, where parsing
the page again in Python (pdfminer, through pdfplumber) took most of a text page's read time.
Words are runs of characters drawn one after another (a new word at a space, a gap over
1.5 pt, or where the pen moves back or to another line), then put in reading order.

Characters a reader cannot see are left out: written in an invisible render mode, or painted
over by an opaque fill drawn later (see visible.py). Words that overlap such characters keep
a lowered confidence: the text layer and the page disagree there.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import pypdfium2.raw as pdfium_c

from .layout import Word, group_lines, scale_words
from .visible import Fill, covered, disagree, fills_and_order, overprinted

X_TOL = 1.5  # a gap wider than this between two characters starts a new word
Y_TOL = 3.0  # characters whose tops lie within this of each other share a line
_INVISIBLE = {3, 7}  # text render modes that paint nothing (7 only adds to the clip)
_UNKNOWN = 1 << 30  # a text object not met in the page walk: no fill is drawn after it
_EXPAND = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}


@dataclass(frozen=True)
class Char:
    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    upright: bool


@dataclass
class _Obj:
    upright: bool
    invisible: bool
    order: int
    box: list[float]  # x0, y0, x1, y1 in PDF user space, grown by its characters


def _display(rotation: int, box: tuple[float, float, float, float]) -> Any:
    """A function from PDF user space (x, y) to display space (x, top), the page as shown."""
    x0, y0, x1, y1 = box
    if rotation == 90:
        return lambda x, y: (y - y0, x - x0), (y1 - y0, x1 - x0)
    if rotation == 180:
        return lambda x, y: (x1 - x, y - y0), (x1 - x0, y1 - y0)
    if rotation == 270:
        return lambda x, y: (y1 - y, x1 - x), (y1 - y0, x1 - x0)
    return lambda x, y: (x - x0, y1 - y), (x1 - x0, y1 - y0)


def page_chars(page: Any) -> tuple[list[Char], list[Char], float, float]:
    """(visible characters, hidden characters, width, height) of a pypdfium2 page, in display
    space (points from the top left of the page as shown), in drawing order."""
    rotation = page.get_rotation() % 360
    to_display, (width, height) = _display(rotation, page.get_mediabox())
    textpage = page.get_textpage()
    try:
        raw = _raw_chars(textpage)
    finally:
        textpage.close()
    fills, order = fills_and_order(page)
    objs: dict[int, _Obj] = {}
    for _, _, _, _, _, key, obj in raw:
        if key not in objs:
            objs[key] = _object_info(obj, order.get(key, _UNKNOWN), rotation)
    for _, x0, y0, x1, y1, key, _ in raw:
        o = objs[key]
        o.box[0], o.box[1] = min(o.box[0], x0), min(o.box[1], y0)
        o.box[2], o.box[3] = max(o.box[2], x1), max(o.box[3], y1)
    hidden_objs = _covered_objects(objs, fills)
    seen: list[Char] = []
    unseen: list[Char] = []
    for text, x0, y0, x1, y1, key, _ in raw:
        o = objs[key]
        (ax, atop), (bx, btop) = to_display(x0, y1), to_display(x1, y0)
        char = Char(text, min(ax, bx), min(atop, btop), max(ax, bx), max(atop, btop), o.upright)
        hide = o.invisible or (
            key in hidden_objs and covered((x0 + x1) / 2, (y0 + y1) / 2, o.order, fills)
        )
        (unseen if hide else seen).append(char)
    return seen, unseen, width, height


def _raw_chars(textpage: Any) -> list[tuple[str, float, float, float, float, int, Any]]:
    """(text, x0, y0, x1, y1, object key, text object) of each character pdfium read from the
    content (the spaces and line ends it adds itself are left out)."""
    out: list[tuple[str, float, float, float, float, int, Any]] = []
    rect = pdfium_c.FS_RECTF()
    for i in range(pdfium_c.FPDFText_CountChars(textpage)):
        if pdfium_c.FPDFText_IsGenerated(textpage, i) == 1:
            continue
        code = pdfium_c.FPDFText_GetUnicode(textpage, i)
        if not code or not pdfium_c.FPDFText_GetLooseCharBox(textpage, i, rect):
            continue
        obj = pdfium_c.FPDFText_GetTextObject(textpage, i)
        key = ctypes.cast(obj, ctypes.c_void_p).value or 0
        text = _text(code)
        out.append((text, rect.left, rect.bottom, rect.right, rect.top, key, obj))
    return out


def _text(code: int) -> str:
    if code == 2:  # pdfium's mark for a hyphen ending a line
        return "-"
    if code < 32 and chr(code) not in "\t\n\r":
        return "\ufffd"  # a glyph without a Unicode mapping: kept, as a word of its own
    return chr(code) if code < 0xD800 or code > 0xDFFF else "\ufffd"


def _object_info(obj: Any, order: int, rotation: int) -> _Obj:
    m = pdfium_c.FS_MATRIX()
    a = b = c = 0.0
    d = 1.0
    if obj and pdfium_c.FPDFPageObj_GetMatrix(obj, m):
        a, b, c, d = m.a, m.b, m.c, m.d
    if rotation in (90, 270):  # the page turned a quarter: the display swaps the axes
        a, b, c, d = b, -a, d, -c
    mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj) if obj else 0
    inf = float("inf")
    return _Obj(a * d > 0 and b * c <= 0, mode in _INVISIBLE, order, [inf, inf, -inf, -inf])


def _covered_objects(objs: dict[int, _Obj], fills: list[Fill]) -> set[int]:
    """Text objects that some opaque fill drawn after them overlaps (their characters are then
    checked one by one)."""
    out: set[int] = set()
    for key, o in objs.items():
        x0, y0, x1, y1 = o.box
        for f in fills:
            if f.order > o.order and f.x0 < x1 and x0 < f.x1 and f.y0 < y1 and y0 < f.y1:
                out.add(key)
                break
    return out


def chars_to_words(chars: list[Char]) -> list[Word]:
    """Words in reading order: runs of characters drawn one after another on a line, split at
    spaces, at gaps over 1.5 pt and where the pen moves back or to another line.

    Following the drawing order keeps a word whole where grouping characters by position
    interleaves it with its neighbours (a label kerned letter by letter just above another, or
    a policy number typed over a printed label: "LCIAGBLIL-7IT8Y45291").
    """
    runs: list[list[Char]] = []
    cur: list[Char] = []
    for ch in chars:
        if ch.text.isspace():
            if cur:
                runs.append(cur)
            cur = []
            continue
        if cur and not _continues(cur[-1], ch):
            runs.append(cur)
            cur = []
        cur.append(ch)
    if cur:
        runs.append(cur)
    words = [_word(r) for r in runs]
    return _join_spaced_letters([w for line in group_lines(words) for w in line])


def _continues(p: Char, ch: Char) -> bool:
    if p.upright != ch.upright:
        return False
    if ch.upright:
        return p.x0 - 0.5 <= ch.x0 <= p.x1 + X_TOL and abs(ch.top - p.top) <= Y_TOL
    # turned text runs up or down the page: the next letter touches the last one's box
    return ch.top <= p.bottom + X_TOL and ch.bottom >= p.top - X_TOL and abs(ch.x0 - p.x0) <= Y_TOL


def _word(chars: list[Char]) -> Word:
    return Word(
        "".join(_EXPAND.get(ch.text, ch.text) for ch in chars),
        min(ch.x0 for ch in chars),
        min(ch.top for ch in chars),
        max(ch.x1 for ch in chars),
        max(ch.bottom for ch in chars),
    )


def _join_spaced_letters(raw: list[Word]) -> list[Word]:
    words: list[Word] = []
    for w in raw:
        last = words[-1] if words else None
        if last is not None and abs(last.top - w.top) < 0.5 and -0.5 < w.x0 - last.x1 < 0.3:
            # letters placed one by one (character spacing) touch: one word, not five
            words[-1] = Word(
                last.text + w.text, last.x0, last.top, w.x1, max(w.bottom, last.bottom)
            )
        else:
            words.append(w)
    return words


def page_words(page: Any) -> list[Word]:
    """Visible words of a pypdfium2 page, scaled to 612 points wide; words overlapping hidden
    characters, or printed over other words, keep a lowered confidence."""
    seen, unseen, width, height = page_chars(page)
    words = overprinted(chars_to_words(seen))
    if unseen:
        words = disagree(words, chars_to_words(unseen))
    return scale_words(words, width, height)


def has_values(words: list[Word]) -> bool:
    """A text layer worth reading: enough words, including some digits (filled values)."""
    return len(words) >= 40 and sum(any(c.isdigit() for c in w.text) for w in words) >= 3
