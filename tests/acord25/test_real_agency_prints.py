"""Real agency prints from the committed real-world set (tests/samples/acord25, see its README).

An agency management system's certificate, encrypted with an owner password only and followed
by twelve pages of endorsements, reads in full; a blank form of the 2025/12 edition, encrypted
the same way, reads without a crash and with no policy rows.
"""

from __future__ import annotations

from inbound.acord25 import extract_in_process
from inbound.acord25.grading import grade

from .conftest import SAMPLES, real_sample


def test_owner_encrypted_agency_print_reads_every_field() -> None:
    data, expected = real_sample("acord_25_2016_03_altech_encrypted")
    r = extract_in_process(data, "acord_25_2016_03_altech_encrypted.pdf")
    assert r.is_acord25
    assert r.page == 0  # the certificate, not one of the endorsements after it
    _, graded, wrong = grade(expected, r.data)
    assert wrong == [], wrong
    assert graded >= 35


def test_printed_y_marks_are_true() -> None:
    data, _ = real_sample("acord_25_2016_03_altech_encrypted")
    r = extract_in_process(data, "acord_25_2016_03_altech_encrypted.pdf")
    for policy in r.data["policies"]:
        assert policy["additional_insured"] is True
        assert policy["subrogation_waived"] is True


def test_blank_2025_12_form_has_no_policies() -> None:
    data = (SAMPLES / "blank" / "acord_25_2025_12_blank_encrypted.pdf").read_bytes()
    r = extract_in_process(data, "acord_25_2025_12_blank_encrypted.pdf")
    assert r.data["policies"] == []
    assert r.data["insured"]["name"] is None
