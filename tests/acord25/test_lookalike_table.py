"""Failure classes 5 and 7 on a look-alike of the form (a real agency scan, not committed: no
licence; its header's word positions are transcribed here): "INSR LTD", a two-line "POLICY
NUMBER" header and columns drawn tens of points from the ACORD 25's proportions. Read by
the proportions, the effective date, both marks and three limits were lost and the policy
number read "NUMBER" at 0.87."""

from __future__ import annotations

from inbound.acord25.columns import find_columns
from inbound.acord25.layout import Page, Word
from inbound.acord25.table import _header_words, _limits


def _w(text: str, x0: float, top: float, x1: float | None = None, h: float = 6) -> Word:
    return Word(text, x0, top, x1 if x1 is not None else x0 + 5.5 * len(text), top + h, 0.9)


HEADER = [
    _w("INSR'", 19, 274, 36),
    _w("ADDL", 218, 274, 236),
    _w("SUBR", 238, 274, 258),
    _w("POLICY", 331, 274, 356),
    _w("EFF", 359, 274, 371),
    _w("POLICY", 394, 274, 418),
    _w("EXP", 421, 274, 434),
    _w("TYPE", 91, 281, 109),
    _w("POLICY", 261, 281, 285),
    _w("NUMBER", 288, 281, 317),
    _w("LIMITS", 509, 281, 530),
    _w("LTD", 19, 285, 31),
    _w("INSD", 219, 285, 235),
    _w("WVD", 238, 285, 254),
    _w("(MM/DD/YYYY)", 326, 285, 376),
    _w("(MM/DD/YYYY)", 389, 285, 439),
    _w("EACH", 446, 299, 465),
    _w("OCCURRENCE", 468, 299, 517),
]


def test_a_lookalike_header_places_the_columns_where_it_prints_them() -> None:
    cols = find_columns(Page(HEADER), 274, None)
    assert cols is not None
    number, eff, exp = (260 + 315) / 2, (332 + 365) / 2, (393 + 427) / 2
    assert cols.number[0] < number < cols.number[1]
    assert cols.eff[0] < eff < cols.eff[1]
    assert cols.exp[0] < exp < cols.exp[1]
    assert cols.addl[0] < 228 < cols.addl[1]  # the "X" marks under ADDL INSD / SUBR WVD
    assert cols.subr[0] < 248 < cols.subr[1]


def test_the_form_s_own_header_keeps_its_proportions() -> None:
    # the printed ACORD 25 (2016/03) header: words near the proportions, columns unchanged
    acord = [
        _w("INSR", 20, 300, 34),
        _w("ADDL", 184, 300, 198),
        _w("SUBR", 203, 300, 218),
        _w("INSD", 184, 306, 198),
        _w("WVD", 204, 306, 217),
        _w("POLICY EFF", 343, 300, 385),
        _w("POLICY EXP", 393, 300, 433),
        _w("(MM/DD/YYYY)", 343, 306, 385),
        _w("(MM/DD/YYYY)", 393, 306, 433),
        _w("EACH", 447, 318, 466),
        _w("OCCURRENCE", 469, 318, 514),
    ]
    cols = find_columns(Page(acord), 300, None)
    assert cols is not None
    assert abs(cols.eff[0] - 339) < 2 and abs(cols.exp[0] - 389) < 2


def test_the_policy_number_column_s_header_is_no_policy_number() -> None:
    assert _header_words("NUMBER")
    assert _header_words("POLICY NUMBER")
    assert not _header_words("CSG-00270324-00")
    assert not _header_words("NUM-1234")


def test_an_amount_read_again_left_of_its_column_is_kept() -> None:
    cols = find_columns(Page(HEADER), 274, None)
    assert cols is not None
    block = [
        _w("EACH", 446, 296),
        _w("OCCURRENCE", 468, 296),
        _w("$300,000", cols.value_x0 + 5, 292),
        _w("DAMAGE", 446, 308),
        _w("TO", 477, 308),
        _w("RENTED", 489, 308),
        _w("$50,000", cols.value_x0 - 3, 309),  # its "$" on the column's rule
    ]
    limits, _ = _limits("general_liability", block, cols)
    assert limits == {"each_occurrence": 300000, "damage_to_rented_premises": 50000}
