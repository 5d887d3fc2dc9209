"""A phone photo's soft strokes are sharpened before binarizing (photo.sharpen): a blurred bold
stroke, thresholded as it is, swells and fills the gap beside it (the counters of "11111",
"33333" in a photographed NAIC column); sharpened, the gap survives."""

from __future__ import annotations

import cv2
import numpy as np

from inbound.acord25.photo import sharpen


def _two_strokes_blurred() -> np.ndarray:
    page = np.full((60, 60), 245, np.uint8)
    page[10:50, 20:26] = 40  # two bold strokes 3 px apart, as in a bold "11"
    page[10:50, 29:35] = 40
    return np.asarray(cv2.GaussianBlur(page, (0, 0), 2.0), dtype=np.uint8)


def _gap_kept(gray: np.ndarray, threshold: int = 170) -> bool:
    row = gray[30]
    return bool(row[27] > threshold)  # the paper between the strokes stays paper


def test_a_blurred_gap_fills_in_unless_sharpened() -> None:
    soft = _two_strokes_blurred()
    assert not _gap_kept(soft)
    assert _gap_kept(sharpen(soft))


def test_sharpening_leaves_flat_paper_alone() -> None:
    paper = np.full((40, 40), 250, np.uint8)
    assert int(np.abs(sharpen(paper).astype(int) - 250).max()) == 0
