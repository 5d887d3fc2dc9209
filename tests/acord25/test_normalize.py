from __future__ import annotations

import pytest

from inbound.acord25.normalize import (
    clean_text,
    compare_key,
    parse_date,
    parse_mark,
    parse_money,
    repair_digits,
)
from inbound.acord25.vocab import repair_label


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("01/17/2020", "2020-01-17"),
        ("1/7/2020", "2020-01-07"),
        ("02/05/22", "2022-02-05"),
        ("12/31/99", "1999-12-31"),
        ("O2/O5/2O22", "2022-02-05"),
        ("l/17/2020", "2020-01-17"),
        ("13/01/2020", None),
        ("", None),
        ("MM/DD/YYYY", None),
    ],
)
def test_dates(raw: str, iso: str | None) -> None:
    assert parse_date(raw) == iso


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ("$1,000,000", 1_000_000),
        ("1 000 000", 1_000_000),
        ("1,000,000.00", 1_000_000),
        ("$ 5,000", 5_000),
        ("l,OOO,OOO", 1_000_000),
        ("S00,000", 500_000),
        ("2,OOO,OOO", 2_000_000),
        ("$500 Ded", 500),
        ("none", None),
        ("", None),
    ],
)
def test_money(raw: str, amount: int | None) -> None:
    assert parse_money(raw) == amount


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("X", True),
        ("x", True),
        ("Y", True),
        ("[X]", True),
        ("N", False),
        ("", None),
        ("Q", None),
    ],
)
def test_marks(raw: str, value: bool | None) -> None:
    assert parse_mark(raw) is value


def test_digit_repairs() -> None:
    assert repair_digits("1O5l2S") == "105125"
    assert repair_digits("I0o") == "100"


def test_text_cleanup_and_compare() -> None:
    assert clean_text("World\u2019s  Best,Inc. ") == "World's Best, Inc."
    assert compare_key("Source,Inc.") == compare_key("source, inc.")
    assert compare_key(True) is True


def test_label_repair_only_for_known_labels() -> None:
    assert repair_label("Professiona L ab ty") == "Professional Liability"
    assert repair_label("3rd Party Cr me") == "3rd Party Crime"
    assert repair_label("Widget Coverage") == "Widget Coverage"
