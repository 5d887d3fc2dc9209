"""Cheap checks before any rendering: file kind, image size; ACORD form detection."""

from __future__ import annotations

import io
import re

from PIL import Image

from .errors import ExtractionError
from .layout import compact

MAX_BYTES = 40 * 1024 * 1024
MAX_PIXELS = 60_000_000

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF8", b"BM")
_MARKERS = (
    "CERTIFICATEOFLIABILITYINSURANCE",
    "ACORD25",
    "PRODUCER",
    "INSURED",
    "INSURERA",
    "INSURER(S)AFFORDINGCOVERAGE",
    "COVERAGES",
    "CERTIFICATEHOLDER",
    "CANCELLATION",
    "EACHOCCURRENCE",
    "POLICYNUMBER",
    "AUTHORIZEDREPRESENTATIVE",
)
_FORM_NO = re.compile(r"\b(CG|CA|WC|IL|CU|GL)\s?(\d{2})\s?(\d{2})\b")


def sniff(data: bytes) -> str:
    """'pdf' or 'image'; raises ExtractionError for empty, oversized or unsupported input."""
    if not data or not data.strip():
        raise ExtractionError("the file is empty", "empty")
    if len(data) > MAX_BYTES:
        raise ExtractionError(f"the file is larger than {MAX_BYTES // 2**20} MB", "too_large")
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return "image"
    raise ExtractionError("not a PDF or a PNG/JPEG/TIFF image", "unsupported")


def open_image(data: bytes) -> Image.Image:
    """Open an image after checking its declared dimensions (no pixel data decoded yet)."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
    except Image.DecompressionBombError as exc:
        raise ExtractionError(f"image declares too many pixels: {exc}", "bomb") from exc
    except Exception as exc:
        raise ExtractionError(f"unreadable image: {type(exc).__name__}", "corrupt") from exc
    if w * h > MAX_PIXELS:
        code = "bomb" if len(data) * 50 < w * h else "too_large"
        raise ExtractionError(f"image of {w}x{h} pixels exceeds {MAX_PIXELS} pixels", code)
    if w < 200 or h < 200:
        raise ExtractionError(f"image of {w}x{h} pixels is too small to read", "unsupported")
    try:
        img.load()
    except Exception as exc:
        reason = f"truncated or corrupt image: {type(exc).__name__}"
        raise ExtractionError(reason, "corrupt") from exc
    return img


def acord_score(words_text: str) -> float:
    """Fraction of ACORD 25 printed labels present in the page text (0..1)."""
    c = compact(words_text)
    return sum(m in c for m in _MARKERS) / len(_MARKERS)


def form_numbers(text: str) -> list[str]:
    seen: list[str] = []
    for m in _FORM_NO.finditer(text.upper()):
        num = f"{m.group(1)} {m.group(2)} {m.group(3)}"
        if num not in seen:
            seen.append(num)
    return seen


# Printed titles of the ACORD forms most often sent instead of a 25 (compact, upper case).
_TITLES: tuple[tuple[str, str], ...] = (
    ("CERTIFICATEOFLIABILITYINSURANCE", "ACORD 25"),
    ("EVIDENCEOFCOMMERCIALPROPERTYINSURANCE", "ACORD 28"),
    ("EVIDENCEOFPROPERTYINSURANCE", "ACORD 27"),
    ("CERTIFICATEOFPROPERTYINSURANCE", "ACORD 24"),
    ("VEHICLEOREQUIPMENTCERTIFICATEOFINSURANCE", "ACORD 23"),
    ("ADDITIONALREMARKSSCHEDULE", "ACORD 101"),
)
# the footer "ACORD 28 (2016/03)": a form number followed by its edition
_FOOTER = re.compile(r"ACORD\s?([1-9]\d{1,2})\s?\(\s?(?:19|20)\d\d\s?/\s?[01]\d\s?\)", re.I)


def identify_form(text: str) -> str | None:
    """'ACORD 25', 'ACORD 28', ... from the page's footer form number, else its title."""
    footers = [f"ACORD {m.group(1)}" for m in _FOOTER.finditer(text)]
    c = compact(text)
    titled = [form for title, form in _TITLES if title in c]
    if "ACORD 25" in footers or "ACORD 25" in titled:
        return "ACORD 25"  # its remarks label names ACORD 101: a 25's own title wins
    return next(iter(footers + titled), None)


# Printed only on the ACORD form itself, not on an agency's own "certificate" letter.
_FORM_ONLY = (
    "ACORD25",
    "INSURERA",
    "INSURER(S)AFFORDINGCOVERAGE",
    "POLICYNUMBER",
    "AUTHORIZEDREPRESENTATIVE",
    "ADDLINSD",
    "SUBRWVD",
    "INSRLTR",
)


def on_the_form(text: str) -> bool:
    """Whether the page carries the ACORD form's own printing (two of its fixed labels)."""
    c = compact(text)
    return sum(m in c for m in _FORM_ONLY) >= 2
