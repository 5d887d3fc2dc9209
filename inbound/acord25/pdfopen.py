"""Opening a PDF safely: encryption, page count and decompression-bomb checks (pypdf)."""

from __future__ import annotations

import io
import zlib
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from pypdf import PdfReader
from pypdf.generic import IndirectObject, StreamObject

from .errors import ExtractionError

MAX_PAGES = 50
MAX_INFLATED = 64 * 1024 * 1024
MAX_RATIO = 400


def open_pdf(data: bytes) -> Any:
    """pypdf reader after encryption, page count and flate-bomb checks."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise ExtractionError(f"unreadable PDF: {type(exc).__name__}", "corrupt") from exc
    if encrypted and not _opens_without_password(reader):
        raise ExtractionError("the PDF needs a password to open", "encrypted")
    try:
        n = len(reader.pages)
    except Exception as exc:
        raise ExtractionError(f"PDF page tree unreadable: {type(exc).__name__}", "corrupt") from exc
    if n == 0:
        raise ExtractionError("the PDF has no pages", "empty")
    if n > MAX_PAGES:
        raise ExtractionError(f"the PDF has {n} pages (limit {MAX_PAGES})", "too_many_pages")
    check_streams(reader)
    return reader


def _opens_without_password(reader: Any) -> bool:
    """An owner password only (printing/copying restrictions): the empty user password opens it."""
    try:
        return bool(reader.decrypt(""))
    except Exception:
        return False


def check_streams(reader: Any) -> None:
    """Inflate each Flate stream incrementally; refuse absurd sizes or ratios (zip bombs)."""
    seen = 0
    for gen, nums in list(reader.xref.items()):
        for num in list(nums)[:5000]:
            try:
                obj = reader.get_object(IndirectObject(num, gen, reader))
            except Exception:
                continue
            if not isinstance(obj, StreamObject) or "FlateDecode" not in str(obj.get("/Filter")):
                continue
            raw = obj._data
            inflated = _inflated_size(raw, MAX_INFLATED + 1)
            seen += inflated
            if (
                inflated > MAX_INFLATED
                or seen > 4 * MAX_INFLATED
                or (inflated > 8 * 2**20 and inflated > MAX_RATIO * max(1, len(raw)))
            ):
                raise ExtractionError("a compressed stream inflates to an absurd size", "bomb")


def _inflated_size(raw: bytes, cap: int) -> int:
    d = zlib.decompressobj()
    total = 0
    chunk = raw
    try:
        while chunk and total <= cap:
            out = d.decompress(chunk, 1 << 20)
            total += len(out)
            chunk = d.unconsumed_tail
    except zlib.error:
        return total
    return total


_MARKUP = {"/FreeText", "/Stamp", "/Square", "/Ink"}


def has_markup(reader: Any) -> bool:
    """Whether a page carries typed-on annotations (a typewriter note adding a policy row)."""
    try:
        for page in reader.pages:
            for ref in page.get("/Annots") or []:
                annot = ref.get_object()
                if annot.get("/Subtype") in _MARKUP and annot.get("/AP") is not None:
                    return True
    except Exception:
        return False
    return False


def flatten_markup(data: bytes) -> bytes:
    """The PDF with its annotations drawn into the page contents, as a viewer shows them."""
    doc = pdfium.PdfDocument(data)
    try:
        for i in range(len(doc)):
            page = doc[i]
            pdfium_c.FPDFPage_Flatten(page.raw, pdfium_c.FLAT_NORMALDISPLAY)
            page.close()
        buf = io.BytesIO()
        doc.save(buf)
        return buf.getvalue()
    finally:
        doc.close()
