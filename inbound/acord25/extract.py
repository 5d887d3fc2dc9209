"""In-process extraction: pick the certificate page, then AcroForm -> text layer -> OCR."""

from __future__ import annotations

import logging
from typing import Any

import pypdfium2 as pdfium

from .acroform import field_values, read_acroform
from .checks import flag_shapes
from .collector import Collector
from .detect import acord_score, form_numbers, identify_form, on_the_form, open_image, sniff
from .errors import ExtractionError
from .layout import PAGE_W, Word, line_text
from .normalize import compare_key
from .pdfopen import flatten_markup, has_markup, open_pdf
from .reader import read_page
from .schema import Extraction, empty_data, flatten
from .textlayer import has_values, page_words
from .visible import keep_visible, mark_probe

log = logging.getLogger(__name__)
OCR_DPI = 300
MAX_OCR_PAGES = 3
IS_ACORD = 0.5
LOW_RES = 0.92  # OCR of a low-resolution image is surer of its words than it should be
DISAGREE = 0.7  # a field read differently by two readings of the page is doubtful
RENDER_SCALE = 2.0  # 144 dpi: enough to see which words carry ink and which boxes are marked


def extract_in_process(data: bytes, filename: str | None = None) -> Extraction:
    """Extract an ACORD 25 from PDF or image bytes in this process (no resource limits)."""
    kind = sniff(data)
    if kind == "image":
        return _from_image(data)
    return _from_pdf(data)


def _finish(
    col: Collector,
    source: str,
    score: float,
    warnings: list[str],
    endorsements: list[dict[str, Any]],
    page: int | None,
    overrides: dict[str, str] | None = None,
) -> Extraction:
    data = col.data
    warnings = warnings + list(data.pop("_warnings", []))
    sources = dict.fromkeys(col.conf, source)
    sources.update(overrides or {})
    result = Extraction(
        is_acord25=True,
        data=data,
        confidence=dict(col.conf),
        sources=sources,
        warnings=warnings,
        endorsements=endorsements,
        page=page,
    )
    if not data.get("policies"):
        warnings.append("no policy rows were read from the coverages table")
    for reason in flag_shapes(data, result.confidence, source):
        warnings.append(f"doubtful value {reason}")
    doubtful = result.doubtful_fields()
    if doubtful:
        warnings.append(f"{len(doubtful)} field(s) read with low confidence")
    result.confidence["is_acord25"] = round(score, 3)
    log.info(
        "acord25 extraction: path=%s fields=%d doubtful=%d", source, len(col.conf), len(doubtful)
    )
    return result


def _not_acord(
    score: float,
    warnings: list[str],
    endorsements: list[dict[str, Any]],
    form: str | None = None,
) -> Extraction:
    data = empty_data()
    if form is not None and form != "ACORD 25":
        data["form"] = form
        warnings.append(f"the document is an {form}, not an ACORD 25 certificate")
    else:
        warnings.append("the document does not look like an ACORD 25 certificate")
    return Extraction(
        is_acord25=False,
        data=data,
        confidence={"is_acord25": round(min(score, 0.3), 3)},
        warnings=warnings,
        endorsements=endorsements,
    )


def _from_image(data: bytes) -> Extraction:
    from .photo import looks_like_photo, straighten_photo

    img = open_image(data)
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    warnings: list[str] = []
    if looks_like_photo(img):
        sheet = straighten_photo(img)
        if sheet is not None:
            img = sheet
            warnings.append("a photo: the sheet was straightened and its light evened out")
    return _ocr_upright(img, warnings, [], 0)


def _ocr_upright(
    img: Any,
    warnings: list[str],
    endorsements: list[dict[str, Any]],
    page: int,
    note_forms: bool = False,
) -> Extraction:
    """OCR a page image; a landscape page, or one that does not read as a form, is turned."""
    # OCR and its image stack (OpenCV, NumPy) load only for a page that needs them: a text
    # PDF read in the sandbox child does not pay for their import
    from .ocr import OcrUnavailable, ocr_page, upright

    try:
        turned = 0
        if img.width > img.height * 1.1:  # a letter page lying on its side
            img, turned = upright(img)
        result = _read_ocr(ocr_page(img), warnings, endorsements, page, note_forms)
        if not result.is_acord25 and result.data.get("form") is None and not turned:
            flipped, turned = upright(img, portrait_first=False)
            if turned:
                again = _read_ocr(ocr_page(flipped), list(warnings), endorsements, page)
                result = again if again.is_acord25 else result
    except OcrUnavailable as exc:
        raise ExtractionError(str(exc), "unsupported") from exc
    if turned and result.is_acord25:
        result.warnings.append(f"the page was turned {turned} degrees to read it")
    return result


def _read_ocr(
    ocr: Any,
    warnings: list[str],
    endorsements: list[dict[str, Any]],
    page: int,
    note_forms: bool = False,
) -> Extraction:
    from .frame import FittedRescan, fit_to_form, fitted_probe

    text = " ".join(w.text for w in ocr.words)
    score = acord_score(text)
    form = identify_form(text)
    if score < IS_ACORD or (form is not None and form != "ACORD 25") or not on_the_form(text):
        nums = form_numbers(text) if note_forms else []
        if nums:  # an endorsement page of a scanned certificate
            endorsements.append({"page": page, "forms": nums})
        return _not_acord(score, list(warnings), endorsements, form)
    col = read_page(ocr.words, 0.9, ocr.ink, ocr.rescan)
    fit = fit_to_form(ocr.frame)
    if fit is not None:  # the form sits smaller or offset on the page (a scan): read it fitted
        fitted = read_page(
            [fit.word(w) for w in ocr.words],
            0.9,
            fitted_probe(ocr.ink, fit),
            FittedRescan(ocr.rescan, fit),
        )
        col, took = better_sections(col, fitted)
        if took:
            warnings = [*warnings, f"read fitted to the form's ruling lines: {', '.join(took)}"]
    if "description_of_operations" in col.conf:  # free text read by OCR is seldom exact
        col.conf["description_of_operations"] = min(col.conf["description_of_operations"], 0.75)
    if ocr.upscaled:  # a low-resolution image, enlarged for OCR
        col.conf.update({k: round(v * LOW_RES, 3) for k, v in col.conf.items()})
    return _finish(col, "ocr", score, warnings, endorsements, page)


def _section(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def better_sections(first: Collector, second: Collector) -> tuple[Collector, list[str]]:
    """Per section of the form (producer, insured, insurers, policies, ...), the reading that
    found more of its fields; a tie keeps `first`. Returns the merge and the sections taken
    from `second`."""
    out = Collector()
    took: list[str] = []
    sections = dict.fromkeys(_section(p) for p in [*first.conf, *second.conf])
    for sec in sections:
        a = [p for p in first.conf if _section(p) == sec]
        b = [p for p in second.conf if _section(p) == sec]
        src, paths = (second, b) if len(b) > len(a) else (first, a)
        other = first if src is second else second
        if src is second:
            took.append(sec)
        out.data[sec] = src.data[sec]
        out.conf.update({p: src.conf[p] for p in paths})
        mine, theirs = flatten(src.data.get(sec)), flatten(other.data.get(sec))
        for key, value in mine.items():  # two readings that disagree: trust neither
            if theirs.get(key) is not None and compare_key(theirs[key]) != compare_key(value):
                path = f"{sec}{key if key.startswith('[') else '.' + key}" if key else sec
                if path in out.conf:
                    out.conf[path] = min(out.conf[path], DISAGREE)
    warned = first.data.get("_warnings", []) + second.data.get("_warnings", [])
    if warned:
        out.data["_warnings"] = list(dict.fromkeys(warned))
    return out, took


def _from_pdf(data: bytes) -> Extraction:
    reader = open_pdf(data)
    if has_markup(reader):  # typed-on notes are part of what the page shows
        data = flatten_markup(data)
    try:
        doc = pdfium.PdfDocument(data)
    except Exception as exc:
        raise ExtractionError(f"PDF content unreadable: {type(exc).__name__}", "corrupt") from exc
    try:
        return _read_pdf(data, doc, reader)
    finally:
        doc.close()


def _read_pdf(data: bytes, doc: Any, reader: Any) -> Extraction:
    warnings: list[str] = []
    endorsements: list[dict[str, Any]] = []
    pages: list[tuple[float, list[Word]]] = []
    forms: list[str | None] = []
    try:
        for i in range(len(doc)):
            words = page_words(doc[i])
            text = " ".join(line_text([w]) for w in words)
            score = acord_score(text)
            pages.append((score, words))
            forms.append(identify_form(text))
            nums = form_numbers(text)
            if nums and score < IS_ACORD:
                endorsements.append({"page": i, "forms": nums})
    except ExtractionError:
        raise
    except Exception as exc:
        raise ExtractionError(f"PDF content unreadable: {type(exc).__name__}", "corrupt") from exc
    best = max(range(len(pages)), key=lambda i: pages[i][0])
    score, words = pages[best]
    if forms[best] not in (None, "ACORD 25") and has_values(words):
        return _not_acord(score, warnings, endorsements, forms[best])
    values = field_values(reader)
    form = read_acroform(values) if values else None
    if form is not None and score >= 0.3:
        from_text: dict[str, str] = {}
        if words:
            text_col = read_page(words, 0.95)
            for key in ("edition", "form"):
                if key in text_col.conf:
                    form.put(key, text_col.data[key], text_col.conf[key])
                    from_text[key] = "text"
        if "form" not in form.conf:
            form.put("form", "ACORD 25", 0.9)
        return _finish(form, "acroform", max(score, 0.9), warnings, endorsements, best, from_text)
    text = " ".join(w.text for w in words)
    if score >= IS_ACORD and has_values(words) and not on_the_form(text):
        return _not_acord(score, warnings, endorsements)  # an agency's letter, not the form
    if score >= IS_ACORD and has_values(words):
        words, ink = _rendered_view(doc[best], words)
        col = read_page(words, 0.95, ink)
        return _finish(col, "text", score, warnings, endorsements, best)
    return _ocr_pdf(doc, pages, score, best, warnings, endorsements)


def _rendered_view(page: Any, words: list[Word]) -> tuple[list[Word], Any]:
    """The text-layer words a reader sees on the rendered page, and an ink probe of that page."""
    img = page.render(scale=RENDER_SCALE, grayscale=True).to_pil().convert("L")
    img = img.resize(
        (round(PAGE_W * RENDER_SCALE), round(img.height * PAGE_W * RENDER_SCALE / img.width))
    )
    kept, _ = keep_visible(words, img, img.width / PAGE_W)
    return kept, mark_probe(img, img.width / PAGE_W)


def _ocr_pdf(
    doc: Any,
    pages: list[tuple[float, list[Word]]],
    score: float,
    best: int,
    warnings: list[str],
    endorsements: list[dict[str, Any]],
) -> Extraction:
    if score >= IS_ACORD:
        candidates = [best]
    else:
        candidates = [i for i, (_, w) in enumerate(pages) if len(w) < 40][:MAX_OCR_PAGES]
    if not candidates:
        return _not_acord(score, warnings, endorsements)
    best_result: Extraction | None = None
    for i in candidates:
        img = doc[i].render(scale=OCR_DPI / 72).to_pil()
        result = _ocr_upright(img, list(warnings), endorsements, i, note_forms=True)
        if result.is_acord25:
            return result
        best_result = best_result or result
    assert best_result is not None
    return best_result
