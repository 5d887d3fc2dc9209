"""Deterministic generator of ACORD 25-like certificates for the accuracy benchmark and tests.

Three kinds from the same random values: "fillable" (AcroForm fields named as in ACORD's
fillable PDFs), "flat" (values drawn into the text layer) and "scan" (the flat page rendered
at 200-300 dpi with rotation and noise, as PNG, JPEG or an image-only PDF).
Usage: python -m tests.support.acord25_corpus OUTDIR [N_PER_KIND]
"""

from __future__ import annotations

import io
import json
import random
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

from inbound.acord25.acroform import (
    ADDRESS_PREFIX,
    ALIASES,
    EXCESS_INDICATOR,
    LIMIT_FIELDS,
    OTHER_LABEL,
    POLICY_FIELDS,
    SCALAR_FIELDS,
)

H = 792.0
KINDS = ("fillable", "flat", "scan")
FIRST = ["Dana", "Luis", "Mei", "Omar", "Rita", "Sam", "Tara", "Victor", "Wendy", "Yusuf"]
LAST = ["Alvarez", "Brooks", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito"]
CO = ["Summit", "Harbor", "Granite", "Pioneer", "Cedar", "Beacon", "Keystone", "Meridian"]
SUFFIX = ["Insurance Agency", "Risk Partners", "Brokerage LLC", "Insurance Services"]
BIZ = ["Roofing Inc", "Electric LLC", "Builders Corp", "Plumbing Co", "Landscaping LLC"]
CARRIERS = [
    "Mutual Insurance Company",
    "Casualty Company",
    "Indemnity Corporation",
    "Fire Insurance Company",
    "Specialty Insurance Co",
]
STREETS = ["Main St", "Oak Avenue", "Market Street", "Elm Road", "Harbor Blvd", "Pine Lane"]
CITIES = [
    ("Springfield", "IL", "62701"),
    ("Austin", "TX", "78701"),
    ("Denver", "CO", "80202"),
    ("Tampa", "FL", "33602"),
    ("Albany", "NY", "12207"),
    ("Salem", "OR", "97301"),
]
OTHER_LABELS = [
    "Professional Liability",
    "Inland Marine",
    "Liquor Liability",
    "Cyber Liability",
    "Pollution Liability",
    "Equipment Floater",
]
EDITIONS = ("2010/05", "2014/01", "2016/03")


@dataclass
class Sample:
    name: str
    kind: str
    data: bytes
    suffix: str
    expected: dict[str, Any]


def _addr(rng: random.Random) -> tuple[str, str]:
    city, st, zc = rng.choice(CITIES)
    return f"{rng.randint(10, 9999)} {rng.choice(STREETS)}", f"{city}, {st} {zc}"


def _money(rng: random.Random, choices: tuple[int, ...]) -> int:
    return rng.choice(choices)


def random_values(seed: int) -> dict[str, Any]:
    """One certificate's values in the extraction schema (the expected result)."""
    rng = random.Random(seed)
    contact = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    p_street, p_city = _addr(rng)
    i_street, i_city = _addr(rng)
    h_street, h_city = _addr(rng)
    n_ins = rng.randint(2, 6)
    insurers = {
        "ABCDEF"[i]: {
            "name": f"{rng.choice(CO)} {rng.choice(CARRIERS)}",
            "naic": str(rng.randint(10000, 99999)),
        }
        for i in range(n_ins)
    }
    letters = list(insurers)
    start = date(2019, 1, 1) + timedelta(days=rng.randint(0, 2400))
    policies: list[dict[str, Any]] = []

    def base(cov: str) -> dict[str, Any]:
        eff = start + timedelta(days=rng.randint(0, 60))
        return {
            "coverage": cov,
            "insurer": rng.choice(letters),
            "policy_number": f"{rng.choice(['GL', 'CA', 'UM', 'WC', 'PK', ''])}"
            f"{rng.randint(100000, 99999999)}{rng.choice(['', '-A', '-01'])}",
            "effective": eff.isoformat(),
            "expiration": eff.replace(year=eff.year + 1).isoformat()
            if eff.day < 29
            else (eff + timedelta(days=365)).isoformat(),
            "additional_insured": rng.random() < 0.5,
            "subrogation_waived": rng.random() < 0.4,
        }

    m1 = (500_000, 1_000_000, 2_000_000)
    if rng.random() < 0.95:
        p = base("general_liability")
        p["occurrence"] = rng.random() < 0.8
        p["limits"] = {
            "each_occurrence": _money(rng, m1),
            "damage_to_rented_premises": _money(rng, (50_000, 100_000, 300_000)),
            "medical_expense": _money(rng, (5_000, 10_000)),
            "personal_advertising_injury": _money(rng, m1),
            "general_aggregate": _money(rng, (2_000_000, 3_000_000)),
            "products_completed_operations_aggregate": _money(rng, (1_000_000, 2_000_000)),
        }
        policies.append(p)
    if rng.random() < 0.8:
        p = base("automobile_liability")
        lim = {"combined_single_limit": _money(rng, m1)}
        if rng.random() < 0.3:
            lim = {
                "bodily_injury_per_person": _money(rng, m1),
                "bodily_injury_per_accident": _money(rng, m1),
                "property_damage": _money(rng, (100_000, 500_000)),
            }
        p["limits"] = lim
        policies.append(p)
    if rng.random() < 0.6:
        p = base(rng.choice(["umbrella_liability", "excess_liability"]))
        p["occurrence"] = rng.random() < 0.7
        amt = _money(rng, (1_000_000, 5_000_000, 10_000_000))
        p["limits"] = {"each_occurrence": amt, "aggregate": amt}
        policies.append(p)
    if rng.random() < 0.8:
        p = base("workers_compensation")
        p.pop("additional_insured")
        amt = _money(rng, (500_000, 1_000_000))
        p["limits"] = {
            "el_each_accident": amt,
            "el_disease_each_employee": amt,
            "el_disease_policy_limit": amt,
        }
        policies.append(p)
    if rng.random() < 0.5:
        p = base("other")
        p["label"] = rng.choice(OTHER_LABELS)
        policies.append(p)
    holder = f"{rng.choice(CO)} {rng.choice(BIZ)}"
    return {
        "form": "ACORD 25",
        "edition": rng.choice(EDITIONS),
        "date": (start - timedelta(days=rng.randint(0, 30))).isoformat(),
        "certificate_number": str(rng.randint(1000, 999999)),
        "producer": {
            "name": f"{rng.choice(CO)} {rng.choice(SUFFIX)}",
            "contact_name": contact,
            "phone": f"({rng.randint(200, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            "email": f"{contact.split()[0].lower()}@{rng.choice(CO).lower()}.com",
            "address": f"{p_street}, {p_city}",
        },
        "insured": {
            "name": f"{rng.choice(CO)} {rng.choice(BIZ)}",
            "address": f"{i_street}, {i_city}",
        },
        "insurers": insurers,
        "policies": policies,
        "description_of_operations": f"Certificate holder is additional insured for job "
        f"{rng.randint(100, 999)} at {i_street}.",
        "certificate_holder": {"name": holder, "address": f"{h_street}, {h_city}"},
    }


def _mdy(iso: str, rng: random.Random) -> str:
    d = date.fromisoformat(iso)
    return d.strftime("%m/%d/%Y") if rng.random() < 0.7 else f"{d.month}/{d.day}/{d.year}"


def _fmt(amount: int, rng: random.Random) -> str:
    return f"{amount:,}" if rng.random() < 0.8 else f"{amount:,}.00"


# --- drawing ---------------------------------------------------------------------------

ROW_TOP = {
    "general_liability": 305,
    "automobile_liability": 391,
    "umbrella_liability": 450,
    "excess_liability": 450,
    "workers_compensation": 486,
    "other": 532,
}
LIMIT_TOP = {
    "each_occurrence": 305,
    "damage_to_rented_premises": 315,
    "medical_expense": 329,
    "personal_advertising_injury": 341,
    "general_aggregate": 353,
    "products_completed_operations_aggregate": 365,
    "combined_single_limit": 389,
    "bodily_injury_per_person": 399,
    "bodily_injury_per_accident": 412,
    "property_damage": 424,
    "aggregate": 461,
    "el_each_accident": 497,
    "el_disease_each_employee": 509,
    "el_disease_policy_limit": 522,
}
UMB_LIMIT_TOP = {"each_occurrence": 450, "aggregate": 461}
COLS = {"ltr": 24, "addl": 182, "subr": 199, "number": 219, "eff": 335, "exp": 382}

LABELS: list[tuple[float, float, str, float]] = [
    (162, 30, "CERTIFICATE OF LIABILITY INSURANCE", 13),
    (521, 27, "DATE (MM/DD/YYYY)", 5.5),
    (
        28,
        51,
        "THIS CERTIFICATE IS ISSUED AS A MATTER OF INFORMATION ONLY AND CONFERS NO RIGHTS "
        "UPON THE CERTIFICATE HOLDER.",
        6.5,
    ),
    (
        28,
        92,
        "IMPORTANT: If the certificate holder is an ADDITIONAL INSURED, the policy(ies) "
        "must have ADDITIONAL INSURED provisions or be endorsed.",
        6.5,
    ),
    (21, 123, "PRODUCER", 6),
    (309, 121, "CONTACT", 5),
    (309, 126, "NAME:", 5),
    (309, 133, "PHONE", 5),
    (309, 139, "(A/C, No, Ext):", 5),
    (485, 133, "FAX", 5),
    (485, 139, "(A/C, No):", 5),
    (309, 145, "E-MAIL", 5),
    (309, 150, "ADDRESS:", 5),
    (369, 162, "INSURER(S) AFFORDING COVERAGE", 6),
    (557, 162, "NAIC #", 6),
    (21, 183, "INSURED", 6),
    *[(309, 174 + 12 * i, f"INSURER {ch} :", 5.5) for i, ch in enumerate("ABCDEF")],
    (21, 243, "COVERAGES", 8),
    (158, 243, "CERTIFICATE NUMBER:", 8),
    (424, 243, "REVISION NUMBER:", 8),
    (
        28,
        255,
        "THIS IS TO CERTIFY THAT THE POLICIES OF INSURANCE LISTED BELOW HAVE BEEN ISSUED "
        "TO THE INSURED NAMED ABOVE FOR THE POLICY PERIOD",
        6.5,
    ),
    (20, 289, "INSR", 5.5),
    (177, 289, "ADDL", 5.5),
    (195, 289, "SUBR", 5.5),
    (337, 289, "POLICY EFF", 5.5),
    (383, 289, "POLICY EXP", 5.5),
    (21, 294, "LTR", 5.5),
    (75, 294, "TYPE OF INSURANCE", 6),
    (178, 294, "INSD", 5.5),
    (196, 294, "WVD", 5.5),
    (247, 294, "POLICY NUMBER", 6),
    (333, 294, "(MM/DD/YYYY)", 5.5),
    (380, 294, "(MM/DD/YYYY)", 5.5),
    (499, 294, "LIMITS", 6),
    (54, 304, "COMMERCIAL GENERAL LIABILITY", 5.5),
    (68, 317, "CLAIMS-MADE", 5.5),
    (133, 317, "OCCUR", 5.5),
    (39, 353, "GEN'L AGGREGATE LIMIT APPLIES PER:", 5.5),
    (54, 365, "POLICY", 5.5),
    (97, 365, "PRO-JECT", 5.5),
    (140, 365, "LOC", 5.5),
    (428, 305, "EACH OCCURRENCE", 5.5),
    (428, 312, "DAMAGE TO RENTED", 5.5),
    (428, 317, "PREMISES (Ea occurrence)", 5.5),
    (428, 329, "MED EXP (Any one person)", 5.5),
    (428, 341, "PERSONAL & ADV INJURY", 5.5),
    (428, 353, "GENERAL AGGREGATE", 5.5),
    (428, 365, "PRODUCTS - COMP/OP AGG", 5.5),
    (39, 387, "AUTOMOBILE LIABILITY", 5.5),
    (54, 399, "ANY AUTO", 5.5),
    (54, 409, "OWNED AUTOS ONLY", 5.5),
    (122, 409, "SCHEDULED AUTOS", 5.5),
    (54, 421, "HIRED AUTOS ONLY", 5.5),
    (122, 421, "NON-OWNED AUTOS ONLY", 5.5),
    (428, 385, "COMBINED SINGLE LIMIT", 5.5),
    (428, 391, "(Ea accident)", 5.5),
    (428, 399, "BODILY INJURY (Per person)", 5.5),
    (428, 412, "BODILY INJURY (Per accident)", 5.5),
    (428, 421, "PROPERTY DAMAGE", 5.5),
    (428, 427, "(Per accident)", 5.5),
    (53, 448, "UMBRELLA LIAB", 5.5),
    (133, 450, "OCCUR", 5.5),
    (53, 459, "EXCESS LIAB", 5.5),
    (133, 461, "CLAIMS-MADE", 5.5),
    (54, 474, "DED", 5.5),
    (90, 474, "RETENTION $", 5.5),
    (428, 450, "EACH OCCURRENCE", 5.5),
    (428, 461, "AGGREGATE", 5.5),
    (37, 482, "WORKERS COMPENSATION", 5.5),
    (37, 489, "AND EMPLOYERS' LIABILITY", 5.5),
    (158, 492, "Y / N", 5.5),
    (37, 497, "ANYPROPRIETOR/PARTNER/EXECUTIVE", 5),
    (178, 501, "N / A", 5.5),
    (37, 503, "OFFICER/MEMBER EXCLUDED?", 5),
    (37, 522, "DESCRIPTION OF OPERATIONS below", 5),
    (442, 483, "PER STATUTE", 5.5),
    (493, 483, "OTH-ER", 5.5),
    (428, 497, "E.L. EACH ACCIDENT", 5.5),
    (428, 509, "E.L. DISEASE - EA EMPLOYEE", 5.5),
    (428, 522, "E.L. DISEASE - POLICY LIMIT", 5.5),
    (
        21,
        567,
        "DESCRIPTION OF OPERATIONS / LOCATIONS / VEHICLES (ACORD 101, Additional Remarks "
        "Schedule, may be attached if more space is required)",
        5.5,
    ),
    (21, 651, "CERTIFICATE HOLDER", 8),
    (309, 651, "CANCELLATION", 8),
    (316, 672, "SHOULD ANY OF THE ABOVE DESCRIBED POLICIES BE CANCELLED BEFORE", 6.5),
    (316, 681, "THE EXPIRATION DATE THEREOF, NOTICE WILL BE DELIVERED IN", 6.5),
    (309, 711, "AUTHORIZED REPRESENTATIVE", 5.5),
]
RULES_H = (116, 167, 240, 250, 285, 300, 383, 444, 478, 528, 560, 645, 660, 705, 740)
RULES_V = (
    (17, 285, 560),
    (175, 285, 560),
    (192, 285, 560),
    (210, 285, 560),
    (330, 285, 560),
    (377, 285, 560),
    (424, 285, 560),
    (515, 300, 560),
    (305, 116, 240),
    (305, 645, 740),
)


def _draw_form(c: canvas.Canvas, edition: str) -> None:
    c.setLineWidth(0.6)
    for t in RULES_H:
        c.line(17, H - t, 595, H - t)
    for x, t0, t1 in RULES_V:
        c.line(x, H - t0, x, H - t1)
    for left, top, text, size in LABELS:
        c.setFont("Helvetica-Bold" if size >= 8 else "Helvetica", size)
        c.drawString(left, H - top - size * 0.8, text)
    for t in (305, 315, 329, 341, 353, 365, 389, 399, 412, 424, 450, 461, 474, 497, 509, 522):
        c.setFont("Helvetica", 6)
        c.drawString(518, H - t - 5, "$")
    year = edition[:4]
    c.setFont("Helvetica", 6.5)
    c.drawString(361, H - 746 - 5, f"\u00a9 1988-{year} ACORD CORPORATION. All rights reserved.")
    c.setFont("Helvetica-Bold", 7)
    c.drawString(21, H - 758 - 5, f"ACORD 25 ({edition})")
    c.setFont("Helvetica", 6.5)
    c.drawString(187, H - 758 - 5, "The ACORD name and logo are registered marks of ACORD")


def _slots(
    v: dict[str, Any], rng: random.Random, fillable: bool = False
) -> list[tuple[str, float, float, str]]:
    """(acroform field name, x, top, text) for every printed value."""
    out: list[tuple[str, float, float, str]] = []
    add = out.append
    add((SCALAR_FIELDS["date"][0], 530, 39, _mdy(v["date"], rng)))
    add((SCALAR_FIELDS["certificate_number"][0], 262, 243, v["certificate_number"]))
    p = v["producer"]
    add((SCALAR_FIELDS["producer.name"][0], 20, 134, p["name"]))
    add((SCALAR_FIELDS["producer.contact_name"][0], 352, 123, p["contact_name"]))
    add((SCALAR_FIELDS["producer.phone"][0], 355, 138, p["phone"]))
    add((SCALAR_FIELDS["producer.email"][0], 352, 147, p["email"]))
    for key, x0, t0 in (
        ("producer", 20, 134),
        ("insured", 50, 192),
        ("certificate_holder", 28, 686),
    ):
        if key != "producer":
            add((SCALAR_FIELDS[f"{key}.name"][0], x0, t0, v[key]["name"]))
        street, city = v[key]["address"].split(", ", 1)
        prefix = ADDRESS_PREFIX[key]
        add((f"{prefix}_MailingAddress_LineOne_A", x0, t0 + 12, street))
        cty, rest = city.split(", ")
        st, zc = rest.split(" ")
        add((f"{prefix}_MailingAddress_CityName_A", x0, t0 + 24, cty if fillable else cty + ","))
        add(
            (f"{prefix}_MailingAddress_StateOrProvinceCode_A", x0 + len(cty) * 4.2 + 8, t0 + 24, st)
        )
        add((f"{prefix}_MailingAddress_PostalCode_A", x0 + len(cty) * 4.2 + 24, t0 + 24, zc))
    for i, (ltr, ins) in enumerate(v["insurers"].items()):
        c = "ABCDEF".index(ltr)
        add((f"Insurer_FullName_{ltr}", 352, 174 + 12 * c, ins["name"]))
        add((f"Insurer_NAICCode_{ltr}", 550, 174 + 12 * c, ins["naic"]))
        del i
    for pol in v["policies"]:
        cov = pol["coverage"]
        names = POLICY_FIELDS["umbrella_liability" if cov == "excess_liability" else cov]
        t = ROW_TOP[cov]
        add((names[0], COLS["ltr"], t, pol["insurer"]))
        mt = t if cov == "other" else t + 10
        if pol.get("additional_insured"):
            add((names[1], COLS["addl"], mt, "X"))
        if pol.get("subrogation_waived"):
            add((names[2], COLS["subr"], mt, "X"))
        add((names[3], COLS["number"], t, pol["policy_number"]))
        add((names[4], COLS["eff"], t, _mdy(pol["effective"], rng)))
        add((names[5], COLS["exp"], t, _mdy(pol["expiration"], rng)))
        if cov == "other":
            add((OTHER_LABEL, 43, t, pol["label"]))
        if "occurrence" in pol:
            gl = cov == "general_liability"
            if pol["occurrence"]:
                add((names[6], 120, 316 if gl else 450, "X"))
            else:
                add((names[7], 56 if gl else 120, 316 if gl else 461, "X"))
        if cov in ("umbrella_liability", "excess_liability"):
            add(
                (
                    EXCESS_INDICATOR
                    if cov == "excess_liability"
                    else "ExcessUmbrella_UmbrellaIndicator_A",
                    41,
                    448 if cov != "excess_liability" else 459,
                    "X",
                )
            )
        lim_fields = LIMIT_FIELDS.get(
            "umbrella_liability" if cov == "excess_liability" else cov, {}
        )
        for key, amount in pol.get("limits", {}).items():
            top = (
                UMB_LIMIT_TOP if cov in ("umbrella_liability", "excess_liability") else LIMIT_TOP
            )[key]
            add((lim_fields[key], 545, top, _fmt(amount, rng)))
    add((SCALAR_FIELDS["description_of_operations"][0], 27, 587, v["description_of_operations"]))
    return out


def make_pdf(
    v: dict[str, Any],
    seed: int,
    fillable: bool,
    extra: list[tuple[str, float, float, str]] | None = None,
) -> bytes:
    """The certificate; `extra` adds (field name, x, top, text) slots (a second "other" row)."""
    rng = random.Random(seed * 7 + 1)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    c.setTitle("ACORD 25")
    _draw_form(c, v["edition"])
    for name, x, top, text in _slots(v, rng, fillable) + list(extra or []):
        size = 7.0
        if fillable and v["edition"] == "2010/05":  # that edition's GL row used generic names
            name = ALIASES.get(name, (name,))[0]
        if fillable:
            if name.endswith("Indicator_A"):
                c.acroForm.checkbox(
                    name=name,
                    x=x - 1,
                    y=H - top - 8,
                    size=8,
                    checked=True,
                    buttonStyle="cross",
                    borderWidth=0,
                )
            else:
                width = max(20.0, c.stringWidth(text, "Helvetica", size) + 6)
                c.acroForm.textfield(
                    name=name,
                    value=text,
                    x=x - 1,
                    y=H - top - 8,
                    width=width,
                    height=9,
                    fontSize=size,
                    borderWidth=0,
                    fillColor=None,
                    forceBorder=False,
                )
        else:
            c.setFont("Helvetica", size)
            c.drawString(x, H - top - size * 0.8, text)
    c.showPage()
    c.save()
    return buf.getvalue()


def make_scan(flat_pdf: bytes, seed: int) -> tuple[bytes, str]:
    """Rasterize at 200-300 dpi, rotate slightly, add noise; PNG, JPEG or image-only PDF."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageFilter

    rng = random.Random(seed * 13 + 5)
    dpi = rng.choice((200, 240, 300))
    doc = pdfium.PdfDocument(flat_pdf)
    img = doc[0].render(scale=dpi / 72).to_pil().convert("L")
    doc.close()
    img = img.rotate(rng.uniform(-0.5, 0.5), resample=Image.Resampling.BILINEAR, fillcolor=255)
    noise = Image.effect_noise(img.size, 40).point(lambda n: 0 if n < 12 else 255)
    img = Image.composite(img, noise, noise.point(lambda n: 255 if n else 0))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(0.6))
    out = io.BytesIO()
    fmt = rng.choice(("png", "jpg", "pdf"))
    if fmt == "png":
        img.save(out, "PNG")
    elif fmt == "jpg":
        img.save(out, "JPEG", quality=85)
    else:
        img.save(out, "PDF", resolution=float(dpi))
    return out.getvalue(), fmt


def generate(n_per_kind: int, seed: int = 25, kinds: tuple[str, ...] = KINDS) -> list[Sample]:
    """Deterministic samples: for i in range(n), one of each kind from the same values."""
    samples: list[Sample] = []
    for i in range(n_per_kind):
        s = seed * 1000 + i
        v = random_values(s)
        flat = make_pdf(v, s, fillable=False)
        if "fillable" in kinds:
            samples.append(Sample(f"fillable_{i:03d}", "fillable", make_pdf(v, s, True), "pdf", v))
        if "flat" in kinds:
            samples.append(Sample(f"flat_{i:03d}", "flat", flat, "pdf", v))
        if "scan" in kinds:
            data, fmt = make_scan(flat, s)
            samples.append(Sample(f"scan_{i:03d}", "scan", data, fmt, v))
    return samples


def text_page(text_lines: list[str]) -> bytes:
    """A one-page non-ACORD document (letter / W-9-like) for negative tests."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    c.setFont("Helvetica", 11)
    for i, line in enumerate(text_lines):
        c.drawString(72, H - 90 - 16 * i, line)
    c.showPage()
    c.save()
    return buf.getvalue()


def endorsement_page(forms: list[str]) -> bytes:
    lines = ["THIS ENDORSEMENT CHANGES THE POLICY. PLEASE READ IT CAREFULLY."]
    for f in forms:
        lines += [
            f"{f} 04 13",
            "ADDITIONAL INSURED - OWNERS, LESSEES OR CONTRACTORS",
            "This endorsement modifies insurance provided under the following:",
            "COMMERCIAL GENERAL LIABILITY COVERAGE PART",
            "",
        ]
    return text_page(lines)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path("var/acord25_corpus")
    n = int(argv[1]) if len(argv) > 1 else 34
    out.mkdir(parents=True, exist_ok=True)
    for s in generate(n):
        (out / f"{s.name}.{s.suffix}").write_bytes(s.data)
        (out / f"{s.name}.expected.json").write_text(json.dumps(s.expected, indent=1))
    print(f"wrote {3 * n} samples to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
