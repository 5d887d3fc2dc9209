from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter

from inbound.acord25 import COVERAGE_KEYS, LIMIT_KEYS, Extraction, extract_in_process
from inbound.acord25.grading import grade
from inbound.acord25.schema import flatten
from tests.support.acord25_corpus import endorsement_page, text_page

from .conftest import real_sample


def _by_kind(corpus: list[Any], kind: str) -> list[Any]:
    return [s for s in corpus if s.kind == kind]


def test_schema_constants() -> None:
    assert "general_liability" in COVERAGE_KEYS and "other" in COVERAGE_KEYS
    assert len(LIMIT_KEYS) == 14 and "el_disease_policy_limit" in LIMIT_KEYS


def test_fillable_path(corpus: list[Any]) -> None:
    for s in _by_kind(corpus, "fillable"):
        r = extract_in_process(s.data)
        wrong = grade(s.expected, r.data)[2]
        assert r.is_acord25 and wrong == [], s.name
        assert set(r.sources.values()) <= {"acroform", "text"}
        assert r.sources["producer.name"] == "acroform"


def test_text_layer_path(corpus: list[Any]) -> None:
    for s in _by_kind(corpus, "flat"):
        r = extract_in_process(s.data)
        right, total, wrong = grade(s.expected, r.data)
        assert r.is_acord25 and right >= total - 1, (s.name, wrong)
        assert r.sources["policies[0].policy_number"] == "text"


def test_ocr_path_generated_scan(corpus: list[Any]) -> None:
    s = _by_kind(corpus, "scan")[0]
    r = extract_in_process(s.data)
    right, total, wrong = grade(s.expected, r.data)
    assert r.is_acord25
    assert right / total >= 0.85, wrong
    assert set(r.sources.values()) == {"ocr"}


def test_extraction_api_shape(corpus: list[Any]) -> None:
    r = extract_in_process(_by_kind(corpus, "flat")[0].data)
    assert isinstance(r, Extraction)
    js = r.to_json()
    for key in (
        "form",
        "edition",
        "producer",
        "insured",
        "insurers",
        "policies",
        "certificate_holder",
        "confidence",
        "warnings",
        "endorsements",
        "is_acord25",
    ):
        assert key in js
    assert all(0.0 <= v <= 1.0 for v in r.confidence.values())
    assert any(".limits." in k for k in r.confidence)
    assert set(r.sources) <= set(r.confidence)
    assert r.page == 0
    r.confidence["producer.name"] = 0.5
    assert "producer.name" in r.doubtful_fields()


def test_real_text_layer_sample() -> None:
    data, expected = real_sample("acord_25_2016_03_sample")
    r = extract_in_process(data)
    wrong = grade(expected, r.data)[2]
    assert len(wrong) <= 3, wrong
    assert r.sources["insured.name"] == "text"


def test_real_scanned_sample() -> None:
    data, expected = real_sample("acord_25_2010_05_2014_01_sample")
    r = extract_in_process(data)
    wrong = grade(expected, r.data)[2]
    assert len(wrong) <= 3, wrong
    assert r.sources["certificate_number"] == "ocr"


def test_real_screenshot_sample() -> None:
    data, expected = real_sample("acord_25_2016_03_screenshot")
    r = extract_in_process(data)
    wrong = grade(expected, r.data)[2]
    assert len(wrong) <= 3, wrong


def test_not_an_acord() -> None:

    w9 = text_page(
        [
            "Form W-9 Request for Taxpayer Identification Number and Certification",
            "Name (as shown on your income tax return)  Acme Roofing LLC",
            "Part I Taxpayer Identification Number (TIN) 12-3456789",
            "Under penalties of perjury, I certify that: 1. The number shown ...",
        ]
    )
    r = extract_in_process(w9)
    assert r.is_acord25 is False
    assert r.data["policies"] == []
    assert all(v is None for k, v in flatten(r.data).items() if k != "insurers")
    assert max(r.confidence.values()) <= 0.3


def _merge(*pdfs: bytes) -> bytes:
    w = PdfWriter()
    for p in pdfs:
        for page in PdfReader(io.BytesIO(p)).pages:
            w.add_page(page)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def test_multipage_with_endorsements(corpus: list[Any]) -> None:

    s = _by_kind(corpus, "flat")[1]
    data = _merge(
        text_page(["Dear customer,", "please find your certificate attached."]),
        s.data,
        endorsement_page(["CG 20 10"]),
        endorsement_page(["CG 20 37"]),
    )
    r = extract_in_process(data)
    assert r.is_acord25 and r.page == 1
    right, total, wrong = grade(s.expected, r.data)
    assert right >= total - 1, wrong
    pages = {e["page"]: e["forms"] for e in r.endorsements}
    assert pages == {2: ["CG 20 10"], 3: ["CG 20 37"]}


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_image_formats_are_sniffed(fmt: str) -> None:
    from PIL import Image

    from inbound.acord25.detect import sniff

    buf = io.BytesIO()
    Image.new("L", (300, 300), 255).save(buf, fmt)
    assert sniff(buf.getvalue()) == "image"


def test_not_an_acord_image() -> None:
    import pypdfium2 as pdfium

    letter = text_page(
        [
            "INVOICE 2024-117",
            "Bill to: Acme Roofing LLC",
            "Amount due: $1,250.00",
            "Payment terms: net 30 days. Thank you for your business.",
        ]
    )
    buf = io.BytesIO()
    pdfium.PdfDocument(letter)[0].render(scale=200 / 72).to_pil().save(buf, "PNG")
    r = extract_in_process(buf.getvalue())
    assert r.is_acord25 is False
    assert r.data["policies"] == [] and r.data["insured"]["name"] is None
