"""Words with boxes on a page normalized to 612x792 points, lines and label anchors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PAGE_W = 612.0
PAGE_H = 792.0


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    conf: float = 1.0

    @property
    def cy(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2


@dataclass(frozen=True)
class Box:
    x0: float
    top: float
    x1: float
    bottom: float

    @property
    def cy(self) -> float:
        return (self.top + self.bottom) / 2


def scale_words(words: Iterable[Word], width: float, height: float) -> list[Word]:
    """Scale words from a width x height page to 612-point width (aspect kept)."""
    f = PAGE_W / width if width else 1.0
    return [Word(w.text, w.x0 * f, w.top * f, w.x1 * f, w.bottom * f, w.conf) for w in words]


def compact(text: str) -> str:
    """Uppercase without whitespace and without OCR noise such as quotes, bars, underscores."""
    return re.sub(r"[\s'‘’“”\"_|~—`]+", "", text).upper()


def group_lines(words: Sequence[Word], tol: float = 3.0) -> list[list[Word]]:
    """Group words into lines by vertical centre; each line sorted left to right."""
    lines: list[list[Word]] = []
    centers: list[float] = []
    for w in sorted(words, key=lambda w: w.cy):
        if lines and abs(w.cy - centers[-1]) <= tol:
            lines[-1].append(w)
            n = len(lines[-1])
            centers[-1] = centers[-1] + (w.cy - centers[-1]) / n
        else:
            lines.append([w])
            centers.append(w.cy)
    return [sorted(line, key=lambda w: w.x0) for line in lines]


def line_text(line: Sequence[Word]) -> str:
    return " ".join(w.text for w in line)


def within(
    words: Iterable[Word], x0: float = -1e9, top: float = -1e9, x1: float = 1e9, bottom: float = 1e9
) -> list[Word]:
    """Words whose centre lies inside the box, in reading order (lines, then left to right)."""
    inside = [w for w in words if x0 <= w.cx <= x1 and top <= w.cy <= bottom]
    return [w for line in group_lines(inside) for w in line]


class Page:
    """A page's words plus label search helpers."""

    def __init__(self, words: Sequence[Word]) -> None:
        self.words = [w for w in words if w.text.strip()]
        self.lines = group_lines(self.words, tol=2.5)

    def find_all(
        self,
        label: str,
        *,
        x0: float = -1e9,
        x1: float = 1e9,
        top: float = -1e9,
        bottom: float = 1e9,
        fuzzy: bool = True,
        upper: bool = False,
    ) -> list[Box]:
        """Boxes of word runs whose compact text starts with compact(label).

        upper=True only accepts words printed in capitals (form labels, not typed values).
        """
        target = compact(label)
        found: list[Box] = []
        for line in self.lines:
            cy = line[0].cy
            if not top - 6 <= cy <= bottom + 6:
                continue
            for i, first in enumerate(line):
                if not x0 <= first.x0 <= x1 or not top <= first.cy <= bottom:
                    continue
                if upper and sum(ch.islower() for ch in first.text) > 1:
                    continue
                acc = ""
                for j in range(i, len(line)):
                    acc += compact(line[j].text)
                    if len(acc) >= len(target):
                        if _matches(acc[: len(target)], target, fuzzy):
                            found.append(
                                Box(
                                    first.x0,
                                    min(w.top for w in line[i : j + 1]),
                                    line[j].x1,
                                    max(w.bottom for w in line[i : j + 1]),
                                )
                            )
                        break
                    if not target.startswith(acc[: len(target)]) and not fuzzy:
                        break
        found.sort(key=lambda b: (b.top, b.x0))
        return found

    def find(
        self,
        label: str,
        *,
        x0: float = -1e9,
        x1: float = 1e9,
        top: float = -1e9,
        bottom: float = 1e9,
        fuzzy: bool = True,
        upper: bool = False,
    ) -> Box | None:
        hits = self.find_all(label, x0=x0, x1=x1, top=top, bottom=bottom, fuzzy=fuzzy, upper=upper)
        return hits[0] if hits else None


def _matches(got: str, target: str, fuzzy: bool) -> bool:
    if got == target:
        return True
    if not fuzzy or len(target) < 6:
        return False
    errors = sum(a != b for a, b in zip(got, target, strict=False))
    return errors <= max(1, len(target) // 8)
