"""Failure class 4 (check-box columns misread) at 150 dpi: the "X" in the ADDL INSD column
comes out of the page's OCR as a "4" read with no confidence, which hid the cell's ink as if
it were print, and on a one-line "other" row the cell's ink was probed only above the line.
Built from the committed sample certificate rendered at 150 dpi."""

from __future__ import annotations

import pytest

from inbound.acord25 import extract_in_process
from inbound.acord25.layout import Word
from inbound.acord25.table import _garbled_mark
from tests.support import acord25_cases as cases

from .conftest import real_sample


def test_a_lone_unreadable_character_in_a_mark_cell_may_be_a_mark() -> None:
    cell = (174.5, 195.5)
    assert _garbled_mark(Word("4", 182, 316, 188, 323, 0.0), cell)
    assert not _garbled_mark(Word("4", 182, 316, 188, 323, 0.9), cell)  # read with confidence
    assert not _garbled_mark(Word("N/A", 179, 502, 194, 509, 0.1), cell)  # printed, 3 letters
    assert not _garbled_mark(Word("4", 150, 316, 156, 323, 0.0), cell)  # outside the cell


@pytest.mark.slow
def test_marks_of_a_150_dpi_image_are_read() -> None:
    data, expected = real_sample("acord_25_2016_03_sample")
    result = extract_in_process(cases.render(data, 150))
    got = [p.get("additional_insured") for p in result.data["policies"]]
    want = [p.get("additional_insured") for p in expected["policies"]]
    assert got == want == [True, True, True]
