from __future__ import annotations

import io
from typing import Any

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader, PdfWriter, Transformation
from pypdf.generic import RectangleObject

from inbound.acord25 import extract_in_process
from inbound.acord25.acroform import read_acroform, short_name
from inbound.acord25.grading import grade
from inbound.acord25.layout import Word
from inbound.acord25.reader import read_page
from inbound.acord25.textlayer import page_words

from .conftest import real_sample


def test_short_name_strips_xfa_prefix() -> None:
    assert short_name("F[0].P1[0].Producer_FullName_A[0]") == "Producer_FullName_A"
    assert short_name("Insurer_NAICCode_B") == "Insurer_NAICCode_B"


def test_acroform_mapping_with_2010_aliases() -> None:
    values = {
        "Producer_FullName_A": "Acme Agency",
        "NamedInsured_FullName_A": "Bolt Roofing LLC",
        "Insurer_FullName_A": "Granite Mutual",
        "Insurer_NAICCode_A": "12345",
        "Policy_PolicyNumberIdentifier_A": "GL-1",
        "Policy_EffectiveDate_A": "1/2/2024",
        "Policy_ExpirationDate_A": "01/02/25",
        "GeneralLiability_OccurrenceIndicator_A": "Yes",
        "GeneralLiability_EachOccurrence_LimitAmount_A": "$1,000,000",
        "CertificateOfInsurance_AdditionalInsuredCode_A": "Y",
    }
    col = read_acroform(values)
    assert col is not None
    pol = col.data["policies"][0]
    assert pol["coverage"] == "general_liability" and pol["policy_number"] == "GL-1"
    assert pol["effective"] == "2024-01-02" and pol["expiration"] == "2025-01-02"
    assert pol["occurrence"] is True and pol["additional_insured"] is True
    assert pol["limits"]["each_occurrence"] == 1_000_000
    assert col.data["insurers"]["A"] == {"name": "Granite Mutual", "naic": "12345"}


def test_acroform_ignores_unrelated_forms() -> None:
    assert read_acroform({"Name": "x", "Signature": "y"}) is None


def _words(pdf_bytes: bytes) -> list[Word]:
    doc = pdfium.PdfDocument(pdf_bytes)
    try:
        return page_words(doc[0])
    finally:
        doc.close()


def test_positional_reader_uses_anchors_not_absolute_positions(corpus: list[Any]) -> None:
    s = next(x for x in corpus if x.kind == "flat")
    words = _words(s.data)
    moved = [
        Word(w.text, w.x0 * 0.95 + 12, w.top * 0.95 + 25, w.x1 * 0.95 + 12, w.bottom * 0.95 + 25)
        for w in words
    ]
    base = grade(s.expected, read_page(words, 0.95).data)
    shifted = grade(s.expected, read_page(moved, 0.95).data)
    assert base[2] == []
    assert shifted[0] >= base[0] - 1, shifted[2]


def test_reading_order_does_not_matter(corpus: list[Any]) -> None:
    s = next(x for x in corpus if x.kind == "flat")
    words = _words(s.data)
    assert read_page(words[::-1], 0.95).data == read_page(words, 0.95).data


def _turned(data: bytes, rotate: int) -> bytes:
    """The page's content turned against `rotate` and the page given /Rotate `rotate`: it shows
    upright, but its text runs sideways in the file (a landscape-scanned page printed to PDF)."""
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for p in w.pages:
        width, height = float(p.mediabox.width), float(p.mediabox.height)
        if rotate == 90:
            p.add_transformation(Transformation().rotate(90).translate(height, 0))
        else:
            p.add_transformation(Transformation().rotate(-90).translate(0, width))
        p.mediabox = RectangleObject((0, 0, height, width))
        p.cropbox = RectangleObject((0, 0, height, width))
        p.rotate(rotate)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@pytest.mark.parametrize("rotate", [90, 270])
def test_text_of_a_page_shown_turned_is_read_upright(rotate: int) -> None:
    data, expected = real_sample("acord_25_2016_03_sample")
    result = extract_in_process(_turned(data, rotate))
    assert set(result.sources.values()) == {"text"}
    assert grade(expected, result.data)[2] == []
