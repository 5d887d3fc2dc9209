"""The form's own frame, found from its ruling lines (OpenCV), and page coordinates fitted to it.

The positional reader finds labels within bounds given in 612-point page coordinates, as a
clean letter-size rendering of the ACORD 25 has them. A scan or a photo seldom does: a page
printed "shrink to fit" and fed crooked through a scanner puts the form a few per cent smaller
and offset ("PRODUCER" 35 points right of where the form prints it), and labels then fall
outside their bounds: whole boxes come back empty (producer, insured, holder on a scan).

The form's outer ruling (the long lines framing its boxes) is found on the binarized page image
with morphological openings; OCR word boxes are then mapped so that this frame lands where the
form prints it, and the ink probe and cell re-reads map back to the image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from .layout import PAGE_W, Word

# Where the ACORD 25 (2016/03, 2014/01) prints its outer ruling on a letter page, in points: the
# left and right edges of its boxes and the top of the first notice box (measured on clean
# renderings of agency PDFs of both editions: 17.8-18.2, 593.8-594.7, 48.0-48.5).
FRAME = (17.9, 48.0, 594.2)
MIN_SHIFT = 4.0  # points: a frame this close to where it belongs is left alone
MAX_SCALE_OFF = 0.3  # a "frame" 30% off in size is not the form's frame


@dataclass(frozen=True)
class Fit:
    """x' = ax * x + bx, y' = ay * y + by (page points, from the image's frame to the form's)."""

    ax: float
    bx: float
    ay: float
    by: float

    def word(self, w: Word) -> Word:
        return Word(
            w.text,
            self.ax * w.x0 + self.bx,
            self.ay * w.top + self.by,
            self.ax * w.x1 + self.bx,
            self.ay * w.bottom + self.by,
            w.conf,
        )

    def back(
        self, x0: float, top: float, x1: float, bottom: float
    ) -> tuple[float, float, float, float]:
        return (
            (x0 - self.bx) / self.ax,
            (top - self.by) / self.ay,
            (x1 - self.bx) / self.ax,
            (bottom - self.by) / self.ay,
        )


def _lines(ink: np.ndarray, horizontal: bool, length: int, band: int) -> np.ndarray:
    """Ink left by an opening with a `length` run, per pixel row (column), summed over `band`
    neighbouring rows: a slightly crooked line is cut into runs on several rows."""
    kernel = np.ones((1, length) if horizontal else (length, 1), np.uint8)
    opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, kernel)
    counts = np.count_nonzero(opened, axis=1 if horizontal else 0).astype(np.float64)
    return np.asarray(np.convolve(counts, np.ones(band), mode="same"))


def find_frame(img: Image.Image) -> tuple[float, float, float] | None:
    """The form's outer ruling (x0, top, x1) in page points, or None when not found.

    `img` is a page image (any mode); ink is what is darker than the page's mid-grey.
    """
    gray = np.asarray(img.convert("L"))
    h, w = gray.shape
    if w < 400 or h < 400:
        return None
    f = w / PAGE_W
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    # ruling: runs of a tenth of the page that add up, over a band of rows (columns) a hundredth
    # of the page wide, to 60% of the page across (40% of it down), thick lines counted in full
    band = max(3, w // 100)
    rows = _lines(ink, True, max(20, w // 10), band)
    cols = _lines(ink, False, max(20, h // 10), band)
    hy = np.flatnonzero(rows > w * 0.6)
    vx = np.flatnonzero(cols > h * 0.4)
    if len(hy) < 2 or len(vx) < 2:
        return None
    # the band's sum peaks at the line's middle; its first/last crossing is half a band off
    x0, x1 = (float(vx[0]) + band / 2) / f, (float(vx[-1]) - band / 2) / f
    top = (float(hy[0]) + band / 2) / f
    if x1 - x0 < PAGE_W * 0.6:
        return None
    return x0, top, x1


def fit_to_form(found: tuple[float, float, float] | None) -> Fit | None:
    """The mapping that puts `found` on the form's frame; None when it is there already.

    A page is scaled the same both ways (printing "shrink to fit", scanning), so the scale
    comes from the frame's width and applies down the page as well.
    """
    if found is None:
        return None
    x0, top, x1 = found
    fx0, ftop, fx1 = FRAME
    a = (fx1 - fx0) / (x1 - x0)
    if abs(a - 1) >= MAX_SCALE_OFF:
        return None
    fit = Fit(a, fx0 - a * x0, a, ftop - a * top)
    moved = max(abs(fx0 - x0), abs(fx1 - x1), abs(ftop - top), abs((a - 1) * 700))
    return fit if moved >= MIN_SHIFT else None


Probe = Callable[[float, float, float, float], float]
Rescan = Callable[[float, float, float, float, str, int], list[Word]]


def fitted_probe(probe: Probe, fit: Fit) -> Probe:
    def inner(x0: float, top: float, x1: float, bottom: float) -> float:
        x0, top, x1, bottom = fit.back(x0, top, x1, bottom)
        return probe(x0, top, x1, bottom)

    return inner


class FittedRescan:
    """A cell re-read asked in the form's coordinates, done on the image, answered fitted."""

    def __init__(self, rescan: Rescan, fit: Fit) -> None:
        self.rescan = rescan
        self.fit = fit
        self.low_res = bool(getattr(rescan, "low_res", False))

    def __call__(
        self, x0: float, top: float, x1: float, bottom: float, whitelist: str, psm: int
    ) -> list[Word]:
        x0, top, x1, bottom = self.fit.back(x0, top, x1, bottom)
        return [self.fit.word(w) for w in self.rescan(x0, top, x1, bottom, whitelist, psm)]

    def many(self, regions: list[tuple[float, float, float, float, str, int]]) -> list[list[Word]]:
        inner = getattr(self.rescan, "many", None)
        back = [(*self.fit.back(*r[:4]), r[4], r[5]) for r in regions]
        read = [self.rescan(*r) for r in back] if inner is None else inner(back)
        return [[self.fit.word(w) for w in words] for words in read]
