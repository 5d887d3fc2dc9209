"""One test per failure class of issue 19, each on a document that shows the class.

Generated documents come from tests/support/acord25_cases.py; real ones from tests/samples.
The real-world evaluation set is measured by bench/acord25_accuracy.py, outside the suite.
"""

from __future__ import annotations

from typing import Any

import pytest

from inbound.acord25 import ExtractionError, extract_in_process
from inbound.acord25.acroform import field_values, read_acroform
from inbound.acord25.grading import grade
from inbound.acord25.pdfopen import open_pdf
from inbound.acord25.schema import DOUBT_THRESHOLD
from tests.support import acord25_cases as cases
from tests.support.pdfs import encrypted_pdf

from .conftest import real_sample


@pytest.fixture(scope="module")
def v() -> dict[str, Any]:
    return cases.values()


@pytest.fixture(scope="module")
def pdf(v: dict[str, Any]) -> bytes:
    return cases.certificate(v)


def _gl(result: Any) -> dict[str, Any]:
    return next(p for p in result.data["policies"] if p["coverage"] == "general_liability")


# 1. encrypted with an owner password only: opens; a user password is still refused


def test_owner_password_only_opens(v: dict[str, Any], pdf: bytes) -> None:
    result = extract_in_process(cases.owner_password_only(pdf))
    right, total, wrong = grade(v, result.data)
    assert result.is_acord25 and wrong == [] and right == total


def test_a_form_encrypted_for_editing_only_opens() -> None:
    data = cases.other_acord_form("28", owner_password=True)
    assert open_pdf(data) is not None  # ACORD's own forms are encrypted for editing only
    assert extract_in_process(data).data["form"] == "ACORD 28"


def test_user_password_is_still_refused() -> None:
    with pytest.raises(ExtractionError) as err:
        extract_in_process(encrypted_pdf())
    assert err.value.code == "encrypted"


# 2. edited PDFs: only visible text; where the views disagree the confidence drops


def test_text_painted_over_is_not_read(v: dict[str, Any], pdf: bytes) -> None:
    edited = cases.overlay(
        pdf,
        cases.steps(
            cases.paint_over(350, 173, 200),
            cases.paint_over(548, 173, 40),
            cases.text(352, 174, "Clear Blue Insurance Company"),
            cases.text(550, 174, "28860"),
        ),
    )
    result = extract_in_process(edited)
    assert result.data["insurers"]["A"] == {"name": "Clear Blue Insurance Company", "naic": "28860"}
    assert result.confidence["insurers.A.name"] < DOUBT_THRESHOLD
    assert result.data["insurers"]["B"] == v["insurers"]["B"]


def test_invisible_and_clipped_text_is_not_read(v: dict[str, Any], pdf: bytes) -> None:
    edited = cases.overlay(
        pdf,
        cases.steps(
            cases.invisible_text(572, 186, "99999"),
            cases.clipped_text(27, 599, "OLD REMARK THAT WAS CUT AWAY"),
        ),
    )
    result = extract_in_process(edited)
    assert result.data["insurers"]["B"]["naic"] == v["insurers"]["B"]["naic"]
    assert result.data["description_of_operations"] == v["description_of_operations"]


def test_a_correction_typed_in_a_white_box_annotation(v: dict[str, Any], pdf: bytes) -> None:
    """A PDF editor's text box with a white fill over the old insurer (an annotation, drawn
    into the page as a form XObject): its new text is read, the old text under it is not."""
    fixed = cases.typewriter_note(
        pdf, 173, [(352, "Clear Blue Insurance Company")], right=540, white=True
    )
    result = extract_in_process(fixed)
    assert result.data["insurers"]["A"]["name"] == "Clear Blue Insurance Company"
    assert result.confidence["insurers.A.name"] < DOUBT_THRESHOLD
    assert result.data["insurers"]["B"] == v["insurers"]["B"]


def test_text_typed_over_old_text_without_hiding_it_is_doubtful(pdf: bytes) -> None:
    """Both texts show on the page, one over the other: whatever is read there is doubtful."""
    typed_over = cases.typewriter_note(pdf, 173, [(352, "Clear Blue Insurance Company")], right=540)
    result = extract_in_process(typed_over)
    assert result.confidence["insurers.A.name"] < DOUBT_THRESHOLD
    assert result.confidence["insurers.B.name"] >= DOUBT_THRESHOLD


# 4. check-box columns: a printed N is no; X, Y, U+2716 and drawn crosses are marks


def test_printed_n_is_false_in_text_and_on_a_scan(pdf: bytes) -> None:
    with_n = cases.overlay(pdf, cases.text(cases.COLS["addl"], 315, "N"))
    assert _gl(extract_in_process(with_n))["additional_insured"] is False
    assert _gl(extract_in_process(cases.render(with_n, 300)))["additional_insured"] is False


@pytest.mark.parametrize(
    "mark",
    [
        cases.text(120, 316, "\u2716", font="DejaVuSans"),
        cases.drawn_cross(120, 316),
    ],
    ids=["heavy-multiplication-x", "vector-cross"],
)
def test_occurrence_mark_as_glyph_or_drawing(v: dict[str, Any], mark: cases.Draw) -> None:
    unmarked = cases.certificate(cases.without(v, "policies.0.occurrence"))
    result = extract_in_process(cases.overlay(unmarked, mark))
    assert _gl(result).get("occurrence") is True


# 5. fields bounded by the form: an empty box is null, never a neighbour or a label


def test_empty_boxes_are_null(v: dict[str, Any]) -> None:
    empty = dict(v, certificate_number="", description_of_operations="")
    data = cases.certificate(empty)
    for doc in (data, cases.render(data, 300)):
        result = extract_in_process(doc)
        assert result.data["certificate_number"] is None
        assert result.data["description_of_operations"] is None
        assert result.data["certificate_holder"]["name"] == v["certificate_holder"]["name"]


def test_number_glued_to_its_label_and_holder_under_a_phone_line(
    v: dict[str, Any], pdf: bytes
) -> None:
    edited = cases.overlay(
        pdf,
        cases.steps(
            cases.paint_over(156, 242, 150, 11),
            cases.text(158, 243, "CERTIFICATE NUMBER:CL251750113", size=8),
            cases.text(28, 673, "(615)459-6753   holder.desk@example.com"),
        ),
    )
    result = extract_in_process(edited)
    assert result.data["certificate_number"] == "CL251750113"
    assert result.data["certificate_holder"]["name"] == v["certificate_holder"]["name"]


def test_margin_notes_stay_out_of_the_boxes_and_a_number_inside_a_name(
    v: dict[str, Any],
) -> None:
    """A sample certificate annotated with callout numbers in the page margin, beside the
    producer and insured boxes (class 5), and a holder whose name holds a number."""
    v = dict(
        v,
        certificate_holder={
            "name": "Park City 3 & 4 Apartments Inc.",
            "address": "99 Park Ave, New York, NY 10016",
        },
    )
    noted = cases.overlay(
        cases.certificate(v),
        cases.steps(cases.text(8, 133, "2"), cases.text(8, 193, "3")),
    )
    for doc in (noted, cases.render(noted, 300)):
        result = extract_in_process(doc)
        assert result.data["producer"]["name"] == v["producer"]["name"]
        assert result.data["insured"]["name"] == v["insured"]["name"]
        assert result.data["certificate_holder"] == v["certificate_holder"]


def test_a_label_run_into_a_value_is_cut_or_doubted(v: dict[str, Any], pdf: bytes) -> None:
    """Values and the next box's label printed as one run (no space between them): the e-mail
    address ends at its domain, and a name holding a printed label is doubtful."""
    glued = cases.overlay(
        pdf,
        cases.steps(
            cases.paint_over(350, 145, 120),
            cases.text(352, 146, "omar@keystone.comAFFORDINGCOVERAGENaic"),
            cases.paint_over(350, 121, 120),
            cases.text(352, 122, "statement on this certificate endorsement(s)"),
        ),
    )
    result = extract_in_process(glued)
    assert result.data["producer"]["email"] == v["producer"]["email"]
    assert result.confidence["producer.email"] < DOUBT_THRESHOLD
    assert result.confidence["producer.contact_name"] < DOUBT_THRESHOLD
    assert result.confidence["producer.name"] >= DOUBT_THRESHOLD


# 7. rows dropped: a typed-on row, the fillable form's second "other" row


def test_row_typed_on_with_an_annotation_is_read(pdf: bytes) -> None:
    noted = cases.typewriter_note(
        pdf,
        cases.OTHER_TOP,
        [
            (cases.COLS["ltr"], "A"),
            (43, "Property"),
            (cases.COLS["number"], "10176227110"),
            (cases.COLS["eff"], "12/26/2025"),
            (cases.COLS["exp"], "12/26/2026"),
        ],
    )
    result = extract_in_process(noted)
    other = [p for p in result.data["policies"] if p["coverage"] == "other"]
    assert [(p.get("label"), p.get("policy_number"), p.get("expiration")) for p in other] == [
        ("Property", "10176227110", "2026-12-26")
    ]


def test_second_other_row_of_the_fillable_form(v: dict[str, Any]) -> None:
    extra = cases.other_row_fields("A", "Inland Marine", "IM100200", cases.OTHER_TOP)
    extra += cases.other_row_fields("B", "Cyber Liability", "CY300400", cases.OTHER_TOP + 12)
    data = cases.make_pdf(v, 1, fillable=True, extra=extra)
    form = read_acroform(field_values(open_pdf(data)))
    assert form is not None
    other = [p for p in form.data["policies"] if p["coverage"] == "other"]
    assert [(p["label"], p["policy_number"]) for p in other] == [
        ("Inland Marine", "IM100200"),
        ("Cyber Liability", "CY300400"),
    ]
    result = extract_in_process(data)
    assert len([p for p in result.data["policies"] if p["coverage"] == "other"]) == 2


# 8. values with a known shape are checked and flagged, never corrected


def test_values_of_the_wrong_shape_are_flagged_not_corrected(v: dict[str, Any]) -> None:
    odd = cases.values()
    odd["edition"] = "2018/03"
    odd["insurers"]["A"]["naic"] = "1228487620"
    odd["policies"][0]["limits"]["each_occurrence"] = 1_000_008
    odd["policies"][1]["expiration"] = "2031-07-15"
    result = extract_in_process(cases.certificate(odd))
    flagged = {
        "edition": "2018/03",
        "insurers.A.naic": "1228487620",
        "policies[0].limits.each_occurrence": 1_000_008,
        "policies[1].expiration": "2031-07-15",
    }
    for path, printed in flagged.items():
        node: Any = result.data
        for part in path.replace("[", ".").replace("]", "").split("."):
            node = node[int(part)] if part.isdigit() else node[part]
        assert node == printed, path  # as printed: not "corrected"
        assert result.confidence[path] < DOUBT_THRESHOLD, path
    assert result.confidence["insurers.B.naic"] >= DOUBT_THRESHOLD


# 9. other ACORD forms are recognised and not taken for an ACORD 25


@pytest.mark.parametrize("form", ["24", "27", "28"])
def test_other_acord_forms_are_not_acord25(form: str) -> None:
    result = extract_in_process(cases.other_acord_form(form))
    assert result.is_acord25 is False
    assert result.data["form"] == f"ACORD {form}"
    assert any(f"ACORD {form}" in w for w in result.warnings)


# 3. a scan lying on its side or upside down is turned upright before it is read


@pytest.mark.slow
def test_rotated_scan_is_turned_upright() -> None:
    data, expected = real_sample("acord_25_2016_03_sample")
    result = extract_in_process(cases.render(data, 200, angle=180))
    right, total, _ = grade(expected, result.data)
    assert result.is_acord25 and right / total >= 0.85
    assert any("turned 180" in w for w in result.warnings)


def test_an_agency_letter_titled_like_the_form_is_not_acord25() -> None:
    """A certificate typed as a letter (title and values, none of the form's own printing)."""
    letter = cases.letter_certificate()
    result = extract_in_process(letter)
    assert result.is_acord25 is False


@pytest.mark.slow
def test_phone_photo_is_straightened_and_read(v: dict[str, Any], pdf: bytes) -> None:
    result = extract_in_process(cases.phone_photo(pdf))
    right, total, _ = grade(v, result.data)
    assert result.is_acord25 and right / total >= 0.7
    assert any("photo" in w for w in result.warnings)


def test_umbrella_row_shared_by_two_insurers_is_two_policies(v: dict[str, Any]) -> None:
    """An umbrella layered over two carriers: "B" over "C" with two policy numbers in one row."""
    v = dict(v)
    umbrella = {
        "coverage": "umbrella_liability",
        "insurer": "B",
        "policy_number": "07173314300",
        "effective": "2025-12-08",
        "expiration": "2026-12-08",
        "occurrence": True,
        "limits": {"each_occurrence": 5_000_000, "aggregate": 5_000_000},
    }
    v["policies"] = [*v["policies"][:2], umbrella, v["policies"][2]]
    row = cases.ROW_TOP["umbrella_liability"] + 10
    pdf = cases.overlay(
        cases.certificate(v),
        cases.steps(
            cases.text(cases.COLS["ltr"], row, "C"),
            cases.text(cases.COLS["number"], row, "CXS4071612"),
            cases.text(cases.COLS["addl"], row, "X"),  # an X on the second insurer's line
        ),
    )
    result = extract_in_process(pdf)
    umbrellas = [p for p in result.data["policies"] if p["coverage"] == "umbrella_liability"]
    assert [(p["insurer"], p["policy_number"]) for p in umbrellas] == [
        ("B", "07173314300"),
        ("C", "CXS4071612"),
    ]
    assert umbrellas[1]["expiration"] == "2026-12-08"
    assert umbrellas[1]["limits"] == {"each_occurrence": 5_000_000, "aggregate": 5_000_000}
    assert umbrellas[1]["additional_insured"] is True  # the row's mark, read as a mark
    assert umbrellas[1]["occurrence"] is True
