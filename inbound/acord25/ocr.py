"""OCR path: Tesseract TSV word boxes on a 300 dpi grayscale, thresholded page image."""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageFilter, ImageOps

from comms.errors import PermanentError

from .errors import ExtractionError
from .frame import find_frame
from .layout import PAGE_W, Word, scale_words

TARGET_WIDTH = 2550  # 8.5 in at 300 dpi
InkProbe = Callable[[float, float, float, float], float]


class OcrUnavailable(PermanentError, RuntimeError):
    code = "ocr_unavailable"


def prepare(img: Image.Image, threshold: int = 170) -> Image.Image:
    """Grayscale, scale to ~300 dpi letter width, binarize (drops light field highlighting)."""
    gray = ImageOps.grayscale(img.convert("RGB") if img.mode not in {"L", "RGB"} else img)
    low_res = gray.width < TARGET_WIDTH / 2.5
    if gray.width < TARGET_WIDTH * 0.8 or gray.width > TARGET_WIDTH * 1.6:
        f = TARGET_WIDTH / gray.width
        gray = gray.resize((TARGET_WIDTH, max(1, round(gray.height * f))), Image.Resampling.LANCZOS)
    gray = ImageOps.autocontrast(gray, cutoff=1)
    if threshold:
        gray = gray.point(lambda v: 255 if v > threshold else 0)
        gray = remove_rules(gray)
        if not low_res:  # specks of a low-resolution image would be upscaled glyph parts
            gray = despeckle(gray)
    return gray


def despeckle(img: Image.Image) -> Image.Image:
    """Whiten isolated ink specks (at most 4 ink pixels in their 5x5 neighbourhood)."""
    inv = ImageOps.invert(img)
    density = inv.filter(ImageFilter.Kernel((5, 5), [1] * 25, scale=25))
    ink = inv.point(lambda v: 255 if v > 128 else 0)
    lonely = density.point(lambda v: 255 if v < 45 else 0)
    mask = ImageChops.multiply(ink, lonely)
    out = img.copy()
    out.paste(255, (0, 0), mask)
    return out


def remove_rules(img: Image.Image, run: int = 90) -> Image.Image:
    """Erase long horizontal and vertical ruling lines of a binarized image (ink = 0).

    Averaging over `run`-pixel windows (at two phases) marks windows that are nearly all
    ink; text strokes are never that long, table rules are.
    """
    w, h = img.size
    inv = ImageOps.invert(img)  # ink = 255
    mask = Image.new("L", (w, h), 0)
    for phase in (0, run // 2):
        for horizontal in (True, False):
            if horizontal:
                crop = inv.crop((phase, 0, w, h))
                size = (max(1, crop.width // run), h)
            else:
                crop = inv.crop((0, phase, w, h))
                size = (w, max(1, crop.height // run))
            small = crop.resize(size, Image.Resampling.BOX).point(lambda v: 255 if v > 235 else 0)
            big = small.resize(
                (size[0] * run, h) if horizontal else (w, size[1] * run), Image.Resampling.NEAREST
            )
            big = big.filter(ImageFilter.MaxFilter(3))
            mask.paste(255, (phase, 0) if horizontal else (0, phase), big)
    out = img.copy()
    out.paste(255, (0, 0), mask)
    return out


def run_tesseract(
    img: Image.Image, psm: int = 11, timeout: float = 40.0, whitelist: str = ""
) -> list[Word]:
    """Words with boxes (pixel coordinates) and confidence 0..1 from `tesseract ... tsv`."""
    exe = shutil.which("tesseract")
    if not exe:
        raise OcrUnavailable("tesseract binary not found")
    with tempfile.TemporaryDirectory(prefix="acord25-ocr-") as tmp:
        path = os.path.join(tmp, "page.png")
        img.save(path)
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        try:
            extra = ["-c", f"tessedit_char_whitelist={whitelist}"] if whitelist else []
            proc = subprocess.run(
                [
                    exe,
                    path,
                    "stdout",
                    "--psm",
                    str(psm),
                    "-c",
                    "preserve_interword_spaces=0",
                    *extra,
                    "tsv",
                ],
                capture_output=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ExtractionError(f"OCR exceeded {timeout:.0f} s", "timeout") from exc
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise ExtractionError("OCR exceeded its CPU time limit", "timeout")
    if proc.returncode in (-signal.SIGSEGV, -signal.SIGABRT):
        raise ExtractionError("OCR ran out of memory", "memory")
    if proc.returncode != 0:
        raise OcrUnavailable(f"tesseract failed with exit code {proc.returncode}")
    return parse_tsv(proc.stdout.decode("utf-8", "replace"))


def parse_tsv(tsv: str) -> list[Word]:
    words: list[Word] = []
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if not text or row.get("level") != "5":
            continue
        try:
            left, top = float(row["left"]), float(row["top"])
            width, height = float(row["width"]), float(row["height"])
            conf = max(0.0, float(row["conf"])) / 100.0
        except (KeyError, ValueError):
            continue
        words.append(Word(text, left, top, left + width, top + height, conf))
    return words


def ink_probe(img: Image.Image) -> InkProbe:
    """Fraction of dark pixels inside a box given in 612-point page coordinates."""
    f = img.width / PAGE_W
    small = img.filter(ImageFilter.MinFilter(1))

    def probe(x0: float, top: float, x1: float, bottom: float) -> float:
        box = (
            max(0, int(x0 * f)),
            max(0, int(top * f)),
            min(img.width, int(x1 * f)),
            min(img.height, int(bottom * f)),
        )
        if box[2] <= box[0] or box[3] <= box[1]:
            return 0.0
        hist = small.crop(box).histogram()
        total = sum(hist)
        return sum(hist[:128]) / total if total else 0.0

    return probe


Rescan = Callable[[float, float, float, float, str, int], list[Word]]


class Rescanner:
    """OCR again one region (612-point coordinates) with a character whitelist."""

    def __init__(self, img: Image.Image, low_res: bool = False) -> None:
        self.img = img
        self.low_res = low_res

    def __call__(
        self, x0: float, top: float, x1: float, bottom: float, whitelist: str, psm: int
    ) -> list[Word]:
        img, upscaled = self.img, self.low_res
        f = img.width / PAGE_W
        box = (
            max(0, int(x0 * f)),
            max(0, int(top * f)),
            min(img.width, int(x1 * f)),
            min(img.height, int(bottom * f)),
        )
        if box[2] - box[0] < 8 or box[3] - box[1] < 8:
            return []
        crop = img.crop(box)
        z = 2 if upscaled else 1
        if z > 1:
            crop = crop.resize((crop.width * z, crop.height * z), Image.Resampling.LANCZOS)
            crop = crop.point(lambda v: 255 if v > 128 else 0)
        pad = Image.new("L", (crop.width + 40, crop.height + 40), 255)
        pad.paste(crop, (20, 20))
        words = run_tesseract(pad, psm=psm, whitelist=whitelist, timeout=20)
        return [
            Word(
                w.text,
                ((w.x0 - 20) / z + box[0]) / f,
                ((w.top - 20) / z + box[1]) / f,
                ((w.x1 - 20) / z + box[0]) / f,
                ((w.bottom - 20) / z + box[1]) / f,
                w.conf,
            )
            for w in words
        ]


@dataclass
class OcrPage:
    words: list[Word]
    ink: InkProbe
    rescan: Rescan
    frame: tuple[float, float, float] | None = None  # the form's ruling (frame.find_frame)
    upscaled: bool = False  # the image was below ~240 dpi and enlarged for OCR


def ocr_page(img: Image.Image, threshold: int = 170, psm: int = 11) -> OcrPage:
    prepared = prepare(img, threshold)
    words = run_tesseract(prepared, psm=psm)
    upscaled = prepared.width > img.width * 2
    # low-resolution sources (screenshots) re-read better from the smooth grayscale upscale
    source = prepare(img, 0) if upscaled else prepared
    return OcrPage(
        scale_words(words, prepared.width, prepared.height),
        ink_probe(prepared),
        Rescanner(source, upscaled),
        find_frame(img),
        prepared.width > img.width * 1.2,
    )


_TOP_WORDS = ("CERTIFICATE", "LIABILITY", "INSURANCE", "INFORMATION", "HOLDER", "PRODUCER")


def _top_words(img: Image.Image) -> int:
    """How many of the form's top-of-page words OCR finds in the top fifth of `img`."""
    band = img.crop((0, 0, img.width, max(1, img.height // 5)))
    words = run_tesseract(prepare(band), psm=6, timeout=20)
    text = " ".join(w.text for w in words).upper()
    return sum(word in text for word in _TOP_WORDS)


def upright(img: Image.Image, portrait_first: bool = True) -> tuple[Image.Image, int]:
    """The page turned upright (and the angle turned, counter-clockwise), by trying orientations.

    A portrait page is upright or upside down; a landscape one lies on either side. The
    orientation whose top band reads like the form's top wins; ties keep the page as it is.
    """
    angles = (0, 180) if img.height >= img.width else (90, 270)
    if not portrait_first:
        angles = (angles[1], angles[0])
    best, best_hits = angles[0], -1
    for angle in angles:
        turned = img.rotate(angle, expand=True) if angle else img
        hits = _top_words(turned)
        if hits > best_hits:
            best, best_hits = angle, hits
        if hits >= 3:
            break
    return (img.rotate(best, expand=True) if best else img), best
