"""Certificates that show one failure class each, built from the generated corpus.

Each helper takes a generated certificate (reportlab) and changes it the way certificates in
the wild are changed: painted over and retyped, encrypted with an owner password, annotated
with a typewriter note, marked with a glyph or a drawn cross, rendered to an image.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

import pypdfium2 as pdfium
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    TextStringObject,
)
from reportlab.lib.pagesizes import letter
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from tests.support.acord25_corpus import COLS, ROW_TOP, H, make_pdf, random_values

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
Draw = Callable[[canvas.Canvas], None]


def values(seed: int = 4) -> dict[str, Any]:
    """A certificate with a GL row (occurrence), an auto row and a WC row, insurers A-C."""
    v = random_values(seed)
    v["edition"] = "2016/03"
    v["insurers"] = {
        "A": {"name": "Harbor Casualty Company", "naic": "12484"},
        "B": {"name": "Granite Mutual Insurance", "naic": "20508"},
        "C": {"name": "Cedar Fire Insurance Co", "naic": "39497"},
    }
    gl = {
        "coverage": "general_liability",
        "insurer": "A",
        "policy_number": "GL1234567",
        "effective": "2025-07-15",
        "expiration": "2026-07-15",
        "additional_insured": False,
        "subrogation_waived": True,
        "occurrence": True,
        "limits": {"each_occurrence": 1_000_000, "general_aggregate": 2_000_000},
    }
    auto = {
        "coverage": "automobile_liability",
        "insurer": "B",
        "policy_number": "CA7654321",
        "effective": "2025-07-15",
        "expiration": "2026-07-15",
        "additional_insured": True,
        "subrogation_waived": False,
        "limits": {"combined_single_limit": 1_000_000},
    }
    wc = {
        "coverage": "workers_compensation",
        "insurer": "C",
        "policy_number": "WC555000111",
        "effective": "2025-08-01",
        "expiration": "2026-08-01",
        "subrogation_waived": True,
        "limits": {"el_each_accident": 1_000_000},
    }
    v["policies"] = [gl, auto, wc]
    return v


def certificate(v: dict[str, Any], **kw: Any) -> bytes:
    return make_pdf(v, 1, fillable=False, **kw)


def without(v: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of `v` lacking one key (`policies.0.occurrence`), so the form prints nothing."""
    out = copy.deepcopy(v)
    node: Any = out
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    del node[last]
    return out


def overlay(pdf: bytes, draw: Draw) -> bytes:
    """Draw on top of page 1 (what an editor's later content stream does)."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    draw(c)
    c.showPage()
    c.save()
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    w.pages[0].merge_page(PdfReader(io.BytesIO(buf.getvalue())).pages[0])
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def baseline(top: float, size: float = 7.0) -> float:
    return H - top - size * 0.8


def paint_over(x: float, top: float, width: float, height: float = 9.0) -> Draw:
    def draw(c: canvas.Canvas) -> None:
        c.setFillColorRGB(1, 1, 1)
        c.rect(x, H - top - height, width, height, stroke=0, fill=1)
        c.setFillColorRGB(0, 0, 0)

    return draw


def text(x: float, top: float, s: str, size: float = 7.0, font: str = "Helvetica") -> Draw:
    def draw(c: canvas.Canvas) -> None:
        if font == "DejaVuSans" and "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("DejaVuSans", DEJAVU))
        c.setFont(font, size)
        c.drawString(x, baseline(top, size), s)

    return draw


def invisible_text(x: float, top: float, s: str) -> Draw:
    def draw(c: canvas.Canvas) -> None:
        c.saveState()  # the render mode is graphics state: it must not leak into later text
        t = c.beginText()
        t.setTextRenderMode(3)
        t.setFont("Helvetica", 7)
        t.setTextOrigin(x, baseline(top))
        t.textOut(s)
        c.drawText(t)
        c.restoreState()

    return draw


def clipped_text(x: float, top: float, s: str) -> Draw:
    def draw(c: canvas.Canvas) -> None:
        c.saveState()
        p = c.beginPath()
        p.rect(0, 0, 2, 2)
        c.clipPath(p, stroke=0, fill=0)
        c.setFont("Helvetica", 7)
        c.drawString(x, baseline(top), s)
        c.restoreState()

    return draw


def drawn_cross(x: float, top: float, size: float = 6.0) -> Draw:
    def draw(c: canvas.Canvas) -> None:
        c.setLineWidth(0.8)
        c.line(x, H - top, x + size, H - top - size)
        c.line(x, H - top - size, x + size, H - top)

    return draw


def steps(*draws: Draw) -> Draw:
    def draw(c: canvas.Canvas) -> None:
        for d in draws:
            d(c)

    return draw


def owner_password_only(pdf: bytes) -> bytes:
    """Encrypted with an owner password and an empty user password: opens without asking."""
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    w.encrypt(user_password="", owner_password="owner-only", algorithm="AES-128")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def typewriter_note(
    pdf: bytes,
    top: float,
    cells: list[tuple[float, str]],
    *,
    right: float = 560,
    white: bool = False,
) -> bytes:
    """A FreeText annotation (an agent's typewriter tool) writing `cells` at (x, text) on a line,
    its box from the first cell to `right`; `white`: the box is filled white first, hiding what
    the page printed there (the usual way to "correct" a certificate in a PDF editor)."""
    reader = PdfReader(io.BytesIO(pdf))
    w = PdfWriter(clone_from=reader)
    page = w.pages[0]
    x0 = min(x for x, _ in cells)
    y = H - top - 9
    ops = [f"q 1 g 0 0 {right - x0:.2f} 10 re f Q"] if white else []
    ops.append("q 0 g BT /Helv 7 Tf")
    for x, s in cells:
        ops.append(f"1 0 0 1 {x - x0:.2f} 2 Tm ({s}) Tj")
    ops.append("ET Q")
    ap = DecodedStreamObject()
    ap.set_data(" ".join(ops).encode("latin-1"))
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    ap.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject(
                [FloatObject(0), FloatObject(0), FloatObject(right - x0), FloatObject(10)]
            ),
            NameObject("/Resources"): DictionaryObject(
                {NameObject("/Font"): DictionaryObject({NameObject("/Helv"): font})}
            ),
        }
    )
    annot = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/FreeText"),
            NameObject("/Rect"): ArrayObject(
                [FloatObject(x0), FloatObject(y), FloatObject(right), FloatObject(y + 10)]
            ),
            NameObject("/Contents"): TextStringObject(" ".join(s for _, s in cells)),
            NameObject("/F"): NumberObject(4),
            NameObject("/DA"): TextStringObject("0 g /Helv 7 Tf"),
            NameObject("/AP"): DictionaryObject({NameObject("/N"): w._add_object(ap)}),
        }
    )
    page[NameObject("/Annots")] = ArrayObject([w._add_object(annot)])
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def other_row_fields(
    suffix: str, label: str, number: str, top: float
) -> list[tuple[str, float, float, str]]:
    """Field slots of the fillable form's "other" row `_A` or `_B`."""
    return [
        (f"OtherPolicy_InsurerLetterCode_{suffix}", COLS["ltr"], top, "A"),
        (f"OtherPolicy_OtherPolicyDescription_{suffix}", 43, top, label),
        (f"OtherPolicy_PolicyNumberIdentifier_{suffix}", COLS["number"], top, number),
        (f"OtherPolicy_PolicyEffectiveDate_{suffix}", COLS["eff"], top, "07/15/2025"),
        (f"OtherPolicy_PolicyExpirationDate_{suffix}", COLS["exp"], top, "07/15/2026"),
    ]


def render(pdf: bytes, dpi: int, angle: int = 0) -> bytes:
    """Page 1 as a PNG at `dpi`, turned `angle` degrees counter-clockwise."""
    doc = pdfium.PdfDocument(pdf)
    try:
        img = doc[0].render(scale=dpi / 72).to_pil().convert("L")
    finally:
        doc.close()
    if angle:
        img = img.rotate(angle, expand=True)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def shrunk_scan(
    pdf: bytes, dpi: int = 200, scale: float = 0.86, at: tuple[float, float] = (0.09, 0.05)
) -> bytes:
    """Page 1 printed "shrink to fit" and scanned: the form `scale` times its size, placed at
    `at` (fractions of the page) on a white letter page, as a PNG at `dpi`."""
    doc = pdfium.PdfDocument(pdf)
    try:
        img = doc[0].render(scale=dpi / 72).to_pil().convert("L")
    finally:
        doc.close()
    page = Image.new("L", img.size, 255)
    small = img.resize(
        (round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS
    )
    page.paste(small, (round(img.width * at[0]), round(img.height * at[1])))
    buf = io.BytesIO()
    page.save(buf, "PNG")
    return buf.getvalue()


OTHER_TOP = ROW_TOP["other"]


def letter_certificate() -> bytes:
    """An agency's own "certificate of liability insurance": the title, parties and limits,
    typed as a letter, without the ACORD form's printing."""
    lines = [
        "CERTIFICATE OF LIABILITY INSURANCE",
        "DATE: 01/15/2024",
        "PRODUCER: Harbor Insurance Agency, 123 Main St, Springfield",
        "INSURED: Cedar Electric LLC, 456 Oak Ave, Springfield",
        "COVERAGES: Commercial General Liability, policy GL 5550001, 01/01/2024 to 01/01/2025",
        "EACH OCCURRENCE: $1,000,000     GENERAL AGGREGATE: $2,000,000",
        "Workers Compensation: statutory, policy WC 7770002, 01/01/2024 to 01/01/2025",
        "CERTIFICATE HOLDER: Keystone Builders Corp, 789 Builder Blvd, Springfield",
        "CANCELLATION: 30 days notice. Additional insured per written contract.",
    ]
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    c.setFont("Helvetica", 10)
    for i, line in enumerate(lines * 5):
        c.drawString(54, H - 60 - 14 * i, line)
    c.showPage()
    c.save()
    return buf.getvalue()


def phone_photo(pdf: bytes, dpi: int = 200) -> bytes:
    """Page 1 photographed by hand: on a dark desk, keystoned, lit from one side (JPEG)."""
    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[0].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        doc.close()
    w, h = page.size
    desk = Image.new("RGB", (round(w * 1.1), round(h * 1.08)), (88, 80, 72))
    desk.paste(page, (round(w * 0.05), round(h * 0.04)))
    dw, dh = desk.size
    # QUAD: the source corners (tl, bl, br, tr) that land on the output's corners
    quad = (-0.05 * dw, 0.0, 0.0, dh * 1.0, dw * 1.0, dh * 1.02, dw * 1.06, -0.03 * dh)
    shot = desk.transform((dw, dh), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC)
    light = Image.linear_gradient("L").rotate(90, expand=True).resize((dw, dh))
    light = light.point(lambda v: 140 + v * 115 // 255)
    shot = Image.composite(shot, Image.new("RGB", (dw, dh), (0, 0, 0)), light)
    lit = Image.blend(shot, Image.composite(shot, shot, light), 0.5)
    buf = io.BytesIO()
    lit.save(buf, "JPEG", quality=85)
    return buf.getvalue()


OTHER_FORM_TITLES = {
    "24": "CERTIFICATE OF PROPERTY INSURANCE",
    "27": "EVIDENCE OF PROPERTY INSURANCE",
    "28": "EVIDENCE OF COMMERCIAL PROPERTY INSURANCE",
}


def other_acord_form(number: str, *, owner_password: bool = False) -> bytes:
    """An ACORD property form (24, 27 or 28) filled in: it shares the 25's parties, insurer
    and policy labels, so only its title and its footer ("ACORD 28 (2016/03)") tell it apart.
    ACORD's own blank forms come encrypted for editing only (`owner_password`)."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    c.setFont("Helvetica-Bold", 14)
    c.drawString(150, H - 50, OTHER_FORM_TITLES[number])
    c.setFont("Helvetica", 7)
    rows = [
        ("DATE (MM/DD/YYYY)", "01/15/2024"),
        ("PRODUCER", "Harbor Insurance Agency, 123 Main St, Springfield, IL 62701"),
        ("INSURED", "Cedar Electric LLC, 456 Oak Ave, Springfield, IL 62702"),
        ("INSURER(S) AFFORDING COVERAGE", "NAIC #"),
        ("INSURER A :", "Prairie Mutual Insurance Company 12345"),
        ("POLICY NUMBER", "CPP 5550001"),
        ("EFFECTIVE DATE", "01/01/2024"),
        ("EXPIRATION DATE", "01/01/2025"),
        ("LOCATION / DESCRIPTION", "456 Oak Ave, Springfield: office and warehouse"),
        ("COVERAGE INFORMATION", "BUILDING $ 1,500,000   BUSINESS PERSONAL PROPERTY $ 250,000"),
        ("ADDITIONAL INTEREST", "Keystone Builders Corp, 789 Builder Blvd, Springfield"),
        ("AUTHORIZED REPRESENTATIVE", "J. Harbor"),
    ]
    for i, (label, value) in enumerate(rows):
        top = H - 90 - 36 * i
        c.rect(36, top - 30, 540, 34)
        c.drawString(40, top - 8, label)
        c.drawString(60, top - 22, value)
    c.drawString(36, 20, f"ACORD {number} (2016/03)")
    c.drawString(250, 20, "© 2003-2015 ACORD CORPORATION. All rights reserved.")
    c.showPage()
    c.save()
    data = buf.getvalue()
    return owner_password_only(data) if owner_password else data
