"""Real-world ACORD 25 evaluation: committed samples, an optional local set, derived image variants.

A set directory holds `positives/`, `negatives/` and `blank/` (or, for the committed samples,
files straight in it), each document beside its `NAME.expected.json`. Positives are graded field
by field; a negative must come back `is_acord25: false`; a blank form must not crash and must
report no policy rows. Image variants (300/150 dpi, JPEG 60, a phone photo, 90/180 degree
rotations) are derived at run time from each positive's first certificate page.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from PIL import Image, ImageFilter

from inbound.acord25 import ExtractionError, extract_in_process
from inbound.acord25.normalize import compare_key
from inbound.acord25.schema import flatten

BANDS: tuple[tuple[str, float, float], ...] = (
    ("<0.5", 0.0, 0.5),
    ("0.5-0.8", 0.5, 0.8),
    ("0.8-0.9", 0.8, 0.9),
    (">=0.9", 0.9, 1.01),
)
DOC_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass
class Doc:
    name: str
    role: str  # positive | negative | blank
    path: Path
    expected: dict[str, Any]


@dataclass
class Tally:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


def load_set(root: Path) -> list[Doc]:
    docs: list[Doc] = []
    for role, sub in (("positive", "positives"), ("negative", "negatives"), ("blank", "blank")):
        for d in (root / sub, root) if sub == "positives" else (root / sub,):
            if not d.is_dir():
                continue
            for f in sorted(d.iterdir()):
                if f.suffix.lower() not in DOC_SUFFIXES:
                    continue
                exp = f.with_name(f.name.rsplit(".", 1)[0] + ".expected.json")
                if exp.exists():
                    docs.append(Doc(f.name, role, f, json.loads(exp.read_text())))
    return docs


def input_kind(data: bytes) -> str:
    """'text' (a PDF with a text layer or form fields), 'scan' (a PDF of images) or 'image'."""
    if not data.startswith(b"%PDF"):
        return "image"
    try:
        doc = pdfium.PdfDocument(data)
    except Exception:
        return "text"  # encrypted or broken: let the extractor say
    try:
        chars = sum(doc[i].get_textpage().count_chars() for i in range(min(len(doc), 3)))
    finally:
        doc.close()
    return "text" if chars > 200 else "scan"


def first_page_image(data: bytes, dpi: int, page: int = 0) -> Image.Image:
    if not data.startswith(b"%PDF"):
        img = Image.open(io.BytesIO(data)).convert("RGB")
        f = dpi / 300 if img.width > 1800 else dpi / 100
        return img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.LANCZOS)
    doc = pdfium.PdfDocument(data)
    try:
        # a fillable form's values live in its widgets: draw them, as a viewer (and a printer)
        # does, or the "image" of a filled certificate is a blank form
        with contextlib.suppress(Exception):
            doc.init_forms()
        return doc[page].render(scale=dpi / 72, may_draw_forms=True).to_pil().convert("RGB")
    finally:
        doc.close()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def phone_photo(img: Image.Image) -> Image.Image:
    """A handheld photo: keystone perspective, a light fall-off across the page, mild blur."""
    w, h = img.size
    canvas = Image.new("RGB", (round(w * 1.08), round(h * 1.06)), (92, 84, 76))
    canvas.paste(img, (round(w * 0.04), round(h * 0.03)))
    cw, ch = canvas.size
    # the page's corners as the camera sees them (top edge narrower: the phone is tilted)
    dst = [
        (0.07 * cw, 0.04 * ch),
        (0.95 * cw, 0.02 * ch),
        (0.99 * cw, 0.98 * ch),
        (0.02 * cw, 0.97 * ch),
    ]
    src = [(0.0, 0.0), (float(cw), 0.0), (float(cw), float(ch)), (0.0, float(ch))]
    coeffs = _perspective(dst, src)
    warped = canvas.transform(
        (cw, ch),
        Image.Transform.PERSPECTIVE,
        coeffs,
        Image.Resampling.BICUBIC,
        fillcolor=(60, 55, 50),
    )
    shade = Image.linear_gradient("L").rotate(-35, expand=True).resize((cw, ch))
    shade = shade.point(lambda v: 150 + v * 105 // 255)
    lit = Image.merge(
        "RGB", [Image.composite(c, Image.new("L", (cw, ch), 0), shade) for c in warped.split()]
    )
    lit = Image.blend(warped, lit, 0.55)
    return lit.filter(ImageFilter.GaussianBlur(0.8))


def _perspective(
    dst: list[tuple[float, float]], src: list[tuple[float, float]]
) -> tuple[float, ...]:
    """Coefficients mapping output pixels (dst quad) back to input pixels (src quad)."""
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return tuple(_solve(rows, rhs))


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c and m[c][c]:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


VARIANTS: dict[str, Callable[[bytes, int], bytes]] = {
    "image 300 dpi": lambda d, p: _png(first_page_image(d, 300, p)),
    "image 150 dpi": lambda d, p: _png(first_page_image(d, 150, p)),
    "jpeg q60": lambda d, p: _jpeg(first_page_image(d, 200, p), 60),
    "phone photo": lambda d, p: _jpeg(phone_photo(first_page_image(d, 200, p)), 85),
    "rotated 90": lambda d, p: _png(first_page_image(d, 300, p).rotate(90, expand=True)),
    "rotated 180": lambda d, p: _png(first_page_image(d, 300, p).rotate(180, expand=True)),
}


def grade_fields(expected: dict[str, Any], result: Any) -> list[tuple[str, bool, float | None]]:
    """(path, right, reported confidence or None when the field was not returned)."""
    exp = flatten({k: v for k, v in expected.items() if k != "is_acord25" and k[0] != "_"})
    have = flatten(result.data) if result is not None else {}
    conf = result.confidence if result is not None else {}
    out: list[tuple[str, bool, float | None]] = []
    for k, v in exp.items():
        got = have.get(k)
        right = compare_key(got) == compare_key(v)
        out.append((k, right, conf.get(k) if got is not None else None))
    return out


def run_doc(set_name: str, kind: str, doc: Doc, data: bytes, tally: Tally) -> Any:
    t = time.perf_counter()
    result: Any = None
    error: str | None = None
    try:
        result = extract_in_process(data, doc.name)
    except ExtractionError as exc:
        error = f"{exc.code}: {exc.reason}"
    except Exception as exc:  # a crash is a finding, not a reason to stop the run
        error = f"crash {type(exc).__name__}: {exc}"
    dt = time.perf_counter() - t
    row: dict[str, Any] = {
        "set": set_name,
        "kind": kind,
        "role": doc.role,
        "name": doc.name,
        "seconds": round(dt, 3),
        "error": error,
    }
    if doc.role == "positive":
        fields = grade_fields(doc.expected, result)
        row["fields"] = fields
        row["wrong"] = [k for k, ok, _ in fields if not ok]
        row["accepted"] = bool(result and result.is_acord25)
    else:
        row["accepted"] = bool(result and result.is_acord25)
        row["form"] = result.data.get("form") if result is not None else None
        row["policies"] = len(result.data.get("policies") or []) if result is not None else 0
    tally.add(row)
    return result


def variants_for(docs: list[Doc], limit: int) -> Iterator[Doc]:
    """Up to `limit` positives, taking sources (name prefixes) in turn."""
    by_src: dict[str, list[Doc]] = {}
    for d in docs:
        if d.role == "positive":
            by_src.setdefault(d.name.split("_", 1)[0], []).append(d)
    picked = 0
    while picked < limit and any(by_src.values()):
        for src in list(by_src):
            if by_src[src] and picked < limit:
                yield by_src[src].pop(0)
                picked += 1


def evaluate(set_name: str, docs: list[Doc], variant_limit: int, tally: Tally) -> None:
    for doc in docs:
        data = doc.path.read_bytes()
        kind = input_kind(data) if doc.role == "positive" else doc.role
        result = run_doc(set_name, kind, doc, data, tally)
        page = result.page if result is not None and result.page is not None else 0
        doc.expected.setdefault("_page", page)
    for doc in variants_for(docs, variant_limit):
        data = doc.path.read_bytes()
        for vname, make in VARIANTS.items():
            try:
                img = make(data, int(doc.expected.get("_page", 0)))
            except Exception as exc:  # an unrenderable source (encrypted) has no variants
                print(f"  no {vname} variant of {doc.name}: {type(exc).__name__}")
                continue
            vdoc = Doc(f"{doc.name} [{vname}]", "positive", doc.path, doc.expected)
            run_doc(set_name, vname, vdoc, img, tally)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"kinds": {}, "calibration": {}}
    pos = [r for r in rows if r["role"] == "positive"]
    for kind in dict.fromkeys(r["kind"] for r in pos):
        rs = [r for r in pos if r["kind"] == kind]
        fields = [f for r in rs for f in r["fields"]]
        right = sum(1 for _, ok, _ in fields if ok)
        out["kinds"][kind] = {
            "n": len(rs),
            "fields_right": right,
            "fields_graded": len(fields),
            "accuracy": round(right / len(fields), 4) if fields else None,
            "p50_seconds": round(statistics.median(r["seconds"] for r in rs), 3),
        }
    every = [f for r in pos for f in r["fields"]]
    for band, lo, hi in BANDS:
        fs = [(ok, c) for _, ok, c in every if c is not None and lo <= c < hi]
        out["calibration"][band] = {
            "fields": len(fs),
            "right": sum(1 for ok, _ in fs if ok),
            "share_right": round(sum(1 for ok, _ in fs if ok) / len(fs), 4) if fs else None,
        }
    missing = [ok for _, ok, c in every if c is None]
    out["calibration"]["not returned"] = {
        "fields": len(missing),
        "right": sum(missing),
        "share_right": round(sum(missing) / len(missing), 4) if missing else None,
    }
    confident = [ok for _, ok, c in every if c is not None and c >= 0.8]
    out["confident_wrong"] = {
        "fields_at_or_above_0.8": len(confident),
        "wrong": sum(1 for ok in confident if not ok),
        "share_wrong": round(1 - sum(confident) / len(confident), 4) if confident else None,
    }
    out["crashes"] = [
        {"name": r["name"], "error": r["error"]}
        for r in rows
        if r["error"] and (r["role"] != "negative" or r["error"].startswith("crash"))
    ]
    out["non_acord25_accepted"] = [
        {"name": r["name"], "form": r.get("form")}
        for r in rows
        if r["role"] == "negative" and r["accepted"]
    ]
    out["blank_forms"] = [
        {"name": r["name"], "error": r["error"], "policies": r.get("policies")}
        for r in rows
        if r["role"] == "blank"
    ]
    return out


def print_summary(title: str, s: dict[str, Any]) -> None:
    print(f"\n== {title}")
    print(f"{'input kind':24} {'n':>4} {'fields right':>14} {'accuracy':>9} {'p50 s':>7}")
    for k, v in s["kinds"].items():
        acc = f"{100 * v['accuracy']:.1f}%" if v["accuracy"] is not None else "-"
        print(
            f"{k:24} {v['n']:>4} {v['fields_right']:>6}/{v['fields_graded']:<7} {acc:>9} {v['p50_seconds']:>7.2f}"
        )
    print("calibration (share right per confidence band):")
    for band, v in s["calibration"].items():
        share = f"{100 * v['share_right']:.1f}%" if v["share_right"] is not None else "-"
        print(f"  {band:14} {v['right']:>5}/{v['fields']:<5} {share}")
    cw = s["confident_wrong"]
    print(f"wrong at >= 0.8: {cw['wrong']} of {cw['fields_at_or_above_0.8']}")
    print(f"crashes/refusals: {len(s['crashes'])} {[c['name'] for c in s['crashes']]}")
    print(f"non-ACORD-25 accepted: {len(s['non_acord25_accepted'])} {s['non_acord25_accepted']}")
    for b in s["blank_forms"]:
        print(f"  blank form {b['name']}: error={b['error']} policies={b['policies']}")
