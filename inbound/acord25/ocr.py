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

import cv2
import numpy as np
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
            big = Image.fromarray(cv2.dilate(np.asarray(big), np.ones((3, 3), np.uint8)))
            mask.paste(255, (phase, 0) if horizontal else (0, phase), big)
    out = img.copy()
    out.paste(255, (0, 0), mask)
    return out


@dataclass(frozen=True)
class OcrJob:
    """One image for Tesseract, read in page segmentation mode `psm`, restricted to `whitelist`."""

    img: Image.Image
    psm: int = 11
    whitelist: str = ""


def workers() -> int:
    """How many Tesseract processes to run at once (one per core, at most 4)."""
    return max(1, min(4, os.cpu_count() or 1))


def run_tesseract(
    img: Image.Image, psm: int = 11, timeout: float = 40.0, whitelist: str = ""
) -> list[Word]:
    """Words with boxes (pixel coordinates) and confidence 0..1 from `tesseract ... tsv`."""
    return run_batches([[OcrJob(img, psm, whitelist)]], timeout)[0][0]


def run_jobs(jobs: list[OcrJob], timeout: float = 40.0) -> list[list[Word]]:
    """The words of each job, in order. Jobs of one mode and whitelist share one Tesseract
    process (its model is loaded once, the images read as the pages of a list); the processes
    run at the same time, up to one per core."""
    groups: dict[tuple[int, str], list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault((job.psm, job.whitelist), []).append(i)
    batches = list(groups.values())
    while len(batches) < workers() and max(len(b) for b in batches) > 1:
        big = max(batches, key=len)
        batches.remove(big)
        batches += [big[: len(big) // 2], big[len(big) // 2 :]]
    read = run_batches([[jobs[i] for i in b] for b in batches], timeout)
    out: list[list[Word]] = [[] for _ in jobs]
    for b, words in zip(batches, read, strict=True):
        for i, w in zip(b, words, strict=True):
            out[i] = w
    return out


def run_batches(batches: list[list[OcrJob]], timeout: float = 40.0) -> list[list[list[Word]]]:
    """Each batch (jobs of one mode and whitelist) in one Tesseract process, all at once."""
    exe = shutil.which("tesseract")
    if not exe:
        raise OcrUnavailable("tesseract binary not found")
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    with tempfile.TemporaryDirectory(prefix="acord25-ocr-") as tmp:
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for n, batch in enumerate(batches):
                paths = []
                for k, job in enumerate(batch):
                    paths.append(os.path.join(tmp, f"b{n}-{k}.png"))
                    job.img.save(paths[-1])
                src = paths[0]
                if len(paths) > 1:  # a list of images: one process, one model load
                    src = os.path.join(tmp, f"b{n}.txt")
                    with open(src, "w") as f:
                        f.write("\n".join(paths) + "\n")
                wl = batch[0].whitelist
                extra = ["-c", f"tessedit_char_whitelist={wl}"] if wl else []
                cmd = [exe, src, "stdout", "--psm", str(batch[0].psm)]
                cmd += ["-c", "preserve_interword_spaces=0", *extra, "tsv"]
                procs.append(
                    subprocess.Popen(
                        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
                    )
                )
            outs = [_wait(p, timeout) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    return [parse_pages(out, len(batch)) for out, batch in zip(outs, batches, strict=True)]


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ExtractionError(f"OCR exceeded {timeout:.0f} s", "timeout") from exc
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise ExtractionError("OCR exceeded its CPU time limit", "timeout")
    if proc.returncode in (-signal.SIGSEGV, -signal.SIGABRT):
        raise ExtractionError("OCR ran out of memory", "memory")
    if proc.returncode != 0:
        raise OcrUnavailable(f"tesseract failed with exit code {proc.returncode}")
    return out.decode("utf-8", "replace")


def parse_pages(tsv: str, n: int) -> list[list[Word]]:
    """The words of each of `n` images read as the pages of one Tesseract run."""
    pages: list[list[Word]] = [[] for _ in range(n)]
    rows = csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in rows:
        try:
            page = int(row.get("page_num") or 1) - 1
        except ValueError:
            continue
        if 0 <= page < n:
            pages[page] += _word(row)
    return pages


def parse_tsv(tsv: str) -> list[Word]:
    words: list[Word] = []
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        words += _word(row)
    return words


def _word(row: dict[str, str]) -> list[Word]:
    """The word of a TSV row (a one-item list), or none for other levels and empty text."""
    text = (row.get("text") or "").strip()
    if not text or row.get("level") != "5":
        return []
    try:
        left, top = float(row["left"]), float(row["top"])
        width, height = float(row["width"]), float(row["height"])
        conf = max(0.0, float(row["conf"])) / 100.0
    except (KeyError, ValueError, TypeError):
        return []
    return [Word(text, left, top, left + width, top + height, conf)]


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
# a region to read again: x0, top, x1, bottom (612-point page coordinates), whitelist, psm
Region = tuple[float, float, float, float, str, int]
PAD = 20


class Rescanner:
    """OCR again one region (612-point coordinates) with a character whitelist."""

    def __init__(self, img: Image.Image, low_res: bool = False) -> None:
        self.img = img
        self.low_res = low_res

    def __call__(
        self, x0: float, top: float, x1: float, bottom: float, whitelist: str, psm: int
    ) -> list[Word]:
        return self.many([(x0, top, x1, bottom, whitelist, psm)])[0]

    def many(self, regions: list[Region]) -> list[list[Word]]:
        """Several regions read at once (see `run_jobs`); the words of each, in order."""
        crops = [self._crop(*r[:4]) for r in regions]
        todo = [
            (i, OcrJob(c[0], r[5], r[4]))
            for i, (r, c) in enumerate(zip(regions, crops, strict=True))
            if c is not None
        ]
        out: list[list[Word]] = [[] for _ in regions]
        if not todo:
            return out
        read = run_jobs([job for _, job in todo], timeout=20)
        for (i, _), words in zip(todo, read, strict=True):
            crop = crops[i]
            assert crop is not None
            out[i] = self._back(words, crop[1], crop[2])
        return out

    def _crop(
        self, x0: float, top: float, x1: float, bottom: float
    ) -> tuple[Image.Image, tuple[int, int, int, int], int] | None:
        img = self.img
        f = img.width / PAGE_W
        box = (
            max(0, int(x0 * f)),
            max(0, int(top * f)),
            min(img.width, int(x1 * f)),
            min(img.height, int(bottom * f)),
        )
        if box[2] - box[0] < 8 or box[3] - box[1] < 8:
            return None
        crop = img.crop(box)
        z = 2 if self.low_res else 1
        if z > 1:
            crop = crop.resize((crop.width * z, crop.height * z), Image.Resampling.LANCZOS)
            crop = crop.point(lambda v: 255 if v > 128 else 0)
        pad = Image.new("L", (crop.width + 2 * PAD, crop.height + 2 * PAD), 255)
        pad.paste(crop, (PAD, PAD))
        return pad, box, z

    def _back(self, words: list[Word], box: tuple[int, int, int, int], z: int) -> list[Word]:
        f = self.img.width / PAGE_W
        return [
            Word(
                w.text,
                ((w.x0 - PAD) / z + box[0]) / f,
                ((w.top - PAD) / z + box[1]) / f,
                ((w.x1 - PAD) / z + box[0]) / f,
                ((w.bottom - PAD) / z + box[1]) / f,
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


BLURRED = 0.13  # share of ink contrast lost by a shrink and enlargement: no finer detail


def detail_lost(img: Image.Image, k: int) -> float:
    """The share of the page's ink contrast lost when `img` is shrunk by `k` and enlarged back."""
    g = np.asarray(ImageOps.grayscale(img.convert("RGB") if img.mode not in {"L", "RGB"} else img))
    h, w = g.shape
    small = cv2.resize(g, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    back = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    ink = 255.0 - float(g.mean())
    return float(cv2.absdiff(g, back).mean()) / max(1e-6, ink)


def enlarged(img: Image.Image) -> bool:
    """Whether a page image holds no more detail than one under half the OCR width: a
    screenshot saved at "300 dpi" (or as a 200 dpi JPEG) has no more than it had on screen.
    Read at full size its blurred strokes are binarized into blots; it is read like the
    low-resolution image it was (cell re-reads from a smooth grayscale, in two modes)."""
    for k in (3, 2):  # enlarged k times, from under half the width that OCR reads at
        wide = TARGET_WIDTH / 2.5 <= img.width < TARGET_WIDTH * k / 2
        if wide and detail_lost(img, k) < BLURRED:
            return True
    return False


def ocr_page(img: Image.Image, threshold: int = 170, psm: int = 11) -> OcrPage:
    prepared = prepare(img, threshold)
    words = run_tesseract(prepared, psm=psm)
    upscaled = prepared.width > img.width * 2 or enlarged(img)
    # low-resolution sources (screenshots) re-read better from the smooth grayscale upscale
    source = prepare(img, 0) if upscaled else prepared
    return OcrPage(
        scale_words(words, prepared.width, prepared.height),
        ink_probe(prepared),
        Rescanner(source, upscaled),
        find_frame(img),
        upscaled or prepared.width > img.width * 1.2,
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
