"""Phone photos of a certificate: find the sheet, undo the perspective, even out the light.

A scan's margins are paper white; a photo's are the desk or the hand around the sheet. When the
border of the image is not paper, the largest bright four-cornered region is taken as the sheet
and warped to a letter page; the light is then evened out (each pixel divided by a heavily
blurred copy of the page), so one global threshold binarizes the whole sheet. A photo's strokes
are soft (camera focus, the warp's resampling): binarized as they are, the counters of bold digits
fill in ("11111" read "11911", "33333" not read at all); an unsharp mask restores their edges
first (phone-photo variants of the committed samples: 168 -> 182 of 205 fields).
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

LETTER_W, LETTER_H = 2550, 3300  # 8.5 x 11 in at 300 dpi


def looks_like_photo(img: Image.Image) -> bool:
    """Whether the image's border is darker than paper (a desk, not a scanner lid)."""
    g = np.asarray(img.convert("L"), dtype=np.uint8)
    h, w = g.shape
    b = max(2, min(h, w) // 60)
    border = np.concatenate([g[:b].ravel(), g[-b:].ravel(), g[:, :b].ravel(), g[:, -b:].ravel()])
    return float(np.median(border)) < 170


def _corners(gray: np.ndarray) -> np.ndarray | None:
    small_f = 1000 / max(gray.shape)
    small = cv2.resize(gray, None, fx=small_f, fy=small_f, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (5, 5), 0)
    _, mask = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    sheet = max(contours, key=cv2.contourArea)
    if cv2.contourArea(sheet) < 0.3 * small.shape[0] * small.shape[1]:
        return None
    hull = cv2.convexHull(sheet)
    quad = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
    if len(quad) != 4:
        return None
    pts = quad.reshape(4, 2).astype(np.float32) / small_f
    s, d = pts.sum(axis=1), np.diff(pts, axis=1).ravel()
    # top-left, top-right, bottom-right, bottom-left
    return np.array([pts[s.argmin()], pts[d.argmin()], pts[s.argmax()], pts[d.argmax()]])


def _square_on(quad: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether the sheet's corners already form an upright rectangle (within 1% of the image)."""
    tol = 0.01 * max(shape)
    (tl, tr, br, bl) = quad
    return bool(
        abs(tl[1] - tr[1]) < tol
        and abs(bl[1] - br[1]) < tol
        and abs(tl[0] - bl[0]) < tol
        and abs(tr[0] - br[0]) < tol
    )


def even_light(gray: np.ndarray) -> np.ndarray:
    """Divide out the lighting: paper becomes white everywhere, print stays dark."""
    k = max(31, (min(gray.shape) // 20) | 1)
    background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    background = cv2.GaussianBlur(background, (k, k), 0)
    flat = cv2.divide(gray, background, scale=255)
    return np.asarray(flat, dtype=np.uint8)


def sharpen(gray: np.ndarray, sigma: float = 1.5, amount: float = 1.0) -> np.ndarray:
    """Unsharp mask: the image plus `amount` times its difference from a blur of `sigma` px."""
    blurred = cv2.GaussianBlur(gray, (0, 0), sigma)
    return np.asarray(cv2.addWeighted(gray, 1 + amount, blurred, -amount, 0), dtype=np.uint8)


def straighten_photo(img: Image.Image) -> Image.Image | None:
    """The sheet of a phone photo as a flat, evenly lit letter page; None when no sheet is found."""
    gray = np.asarray(img.convert("L"), dtype=np.uint8)
    quad = _corners(gray)
    if quad is None:
        return None
    if _square_on(quad, gray.shape):
        return None  # a screenshot or a scan on a dark ground: nothing to straighten
    w = float(np.linalg.norm(quad[1] - quad[0]))
    h = float(np.linalg.norm(quad[3] - quad[0]))
    size = (LETTER_W, LETTER_H) if h >= w else (LETTER_H, LETTER_W)
    target = np.array([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(quad, target)
    sheet = cv2.warpPerspective(gray, warp, size, flags=cv2.INTER_CUBIC, borderValue=255)
    return Image.fromarray(sharpen(even_light(sheet)))
