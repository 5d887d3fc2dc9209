"""Failure class 6 (names lost on scans) and its neighbours in the boxes of a scanned form.

A scan of a page printed "shrink to fit" puts the form smaller and offset on the page; the
reader finds labels within bounds of the printed form, so the boxes came back empty. The form's
ruling lines (frame.py) fit the page back onto the form. Built from the committed real sample.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from inbound.acord25 import extract_in_process
from inbound.acord25.collector import Collector
from inbound.acord25.extract import better_sections
from inbound.acord25.frame import FRAME, find_frame, fit_to_form
from inbound.acord25.layout import Word
from inbound.acord25.normalize import compare_key
from inbound.acord25.reader import split_name_address
from inbound.acord25.schema import DOUBT_THRESHOLD
from tests.support import acord25_cases as cases

from .conftest import real_sample


def _image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


def test_a_form_where_it_prints_needs_no_fitting() -> None:
    data, _ = real_sample("acord_25_2016_03_sample")
    found = find_frame(_image(cases.render(data, 150)))
    assert found is not None
    assert all(abs(a - b) < 2 for a, b in zip(found, FRAME, strict=True))
    assert fit_to_form(found) is None


def test_a_shrunk_offset_scan_is_fitted_back_onto_the_form() -> None:
    data, _ = real_sample("acord_25_2016_03_sample")
    found = find_frame(_image(cases.shrunk_scan(data, 150, 0.86, (0.09, 0.05))))
    assert found is not None
    x0, top, x1 = found
    assert abs((x1 - x0) - 0.86 * (FRAME[2] - FRAME[0])) < 3  # the frame shrank with the form
    fit = fit_to_form(found)
    assert fit is not None
    moved = fit.word(Word("PRODUCER", x0 + 2, top + 90, x0 + 40, top + 96))
    assert abs(moved.x0 - (FRAME[0] + 2 / 0.86)) < 2.5


@pytest.mark.slow
def test_names_on_a_shrunk_offset_scan_are_read() -> None:
    data, expected = real_sample("acord_25_2016_03_sample")
    result = extract_in_process(cases.shrunk_scan(data, 200, 0.86, (0.09, 0.05)))
    assert result.is_acord25
    for party in ("producer", "insured", "certificate_holder"):
        got = result.data[party]["name"]
        assert compare_key(got) == compare_key(expected[party]["name"]), party


def _line(*texts: str, top: float = 100) -> list[Word]:
    out, x = [], 20.0
    for t in texts:
        out.append(Word(t, x, top, x + 6 * len(t), top + 7))
        x += 6 * len(t) + 4
    return out


def test_an_address_label_on_its_own_line_goes_with_the_address() -> None:
    lines = [
        _line("FEDERATED", "MUTUAL", "INSURANCE", "COMPANY", top=100),
        _line("HOME", "OFFICE:", "P.O.", "BOX", "328", top=110),
        _line("OWATONNA,", "MN", "55060", top=120),
    ]
    name, address, _ = split_name_address(lines)
    assert name == "FEDERATED MUTUAL INSURANCE COMPANY"
    assert address == "HOME OFFICE: P.O. BOX 328, OWATONNA, MN 55060"


def test_contact_named_like_a_label_keeps_that_word() -> None:
    v = cases.values()
    v["producer"]["contact_name"] = "CLIENT CONTACT CENTER"
    result = extract_in_process(cases.certificate(v))
    assert result.data["producer"]["contact_name"] == "CLIENT CONTACT CENTER"


def test_sections_come_from_the_reading_that_found_more_and_disagreement_is_doubtful() -> None:
    plain, fitted = Collector(), Collector()
    fitted.put("producer.name", "FEDERATED MUTUAL INSURANCE COMPANY", 0.9)
    fitted.put("insured.name", "31-W INSULATION CO., INC", 0.9)
    for col, number in ((plain, "6089057"), (fitted, "6089051")):
        col.put("policies[0].policy_number", number, 0.95)
        col.put("policies[0].effective", "2023-11-01", 0.95)
    plain.put("policies[0].expiration", "2024-11-01", 0.95)
    merged, took = better_sections(plain, fitted)
    assert took == ["producer", "insured"]
    assert merged.data["producer"]["name"] == "FEDERATED MUTUAL INSURANCE COMPANY"
    assert merged.data["policies"][0]["policy_number"] == "6089057"  # more fields: plain's
    assert merged.conf["policies[0].policy_number"] < DOUBT_THRESHOLD  # the readings differ
    assert merged.conf["policies[0].effective"] == 0.95  # they agree


@pytest.mark.slow
def test_a_low_resolution_image_is_read_but_not_trusted_at_face_value() -> None:
    """Calibration: OCR of a 150 dpi image is surer of its words than it should be, and free
    text read by OCR is seldom exact: such fields go to review as doubtful."""
    data, expected = real_sample("acord_25_2016_03_sample")
    result = extract_in_process(cases.render(data, 150))
    assert result.is_acord25
    assert result.data["insured"]["name"] == expected["insured"]["name"]
    # what OCR read off the page; a row's coverage is the form's own printed row
    read = {
        k: v for k, v in result.confidence.items() if not k.endswith(("is_acord25", "coverage"))
    }
    assert read and max(read.values()) < DOUBT_THRESHOLD
    assert "description_of_operations" in result.doubtful_fields()
