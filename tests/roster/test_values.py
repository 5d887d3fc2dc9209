from __future__ import annotations

from datetime import date

import pytest

from comms.roster.columns import map_headers
from comms.roster.values import (
    parse_bool,
    parse_coverage,
    parse_date,
    parse_email,
    parse_money,
    parse_phone,
)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("$1,000,000", 1_000_000),
        ("1 000 000", 1_000_000),
        ("1000000.00", 1_000_000),
        ("1M", 1_000_000),
        ("2.5m", 2_500_000),
        ("500K", 500_000),
        ("", None),
        (None, None),
        (750000, 750_000),
    ],
)
def test_money(raw: object, value: int | None) -> None:
    assert parse_money(raw) == value


@pytest.mark.parametrize("raw", ["a lot", "$", "1,000.50", "-5", "1MM dollars"])
def test_money_errors(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_money(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2027-01-15", date(2027, 1, 15)),
        ("01/15/2027", date(2027, 1, 15)),
        ("1/5/27", date(2027, 1, 5)),
        ("1/5/2027", date(2027, 1, 5)),
        ("", None),
        ("2027-01-15 00:00:00", date(2027, 1, 15)),
    ],
)
def test_dates(raw: str, value: date | None) -> None:
    assert parse_date(raw) == value


@pytest.mark.parametrize("raw", ["13/45/2026", "2/30/2026", "next week", "2026/01/15"])
def test_date_errors(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_date(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("yes", True),
        ("Y", True),
        ("x", True),
        ("TRUE", True),
        ("no", False),
        ("n", False),
        ("", False),
        (None, False),
        ("false", False),
    ],
)
def test_booleans(raw: object, value: bool) -> None:
    assert parse_bool(raw) is value


def test_boolean_error() -> None:
    with pytest.raises(ValueError):
        parse_bool("maybe")


@pytest.mark.parametrize(
    "raw", ["(212) 555-0142", "212.555.0142", "+1 212 555 0142", "1-212-555-0142", "2125550142"]
)
def test_phones_to_e164(raw: str) -> None:
    assert parse_phone(raw, "US") == "+12125550142"


def test_phone_other_region_and_errors() -> None:
    assert parse_phone("020 7946 0018", "GB") == "+442079460018"
    for raw in ("12345", "call me", "+1 000 000 0000"):
        with pytest.raises(ValueError):
            parse_phone(raw, "US")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("General Liability", "general_liability"),
        ("GL", "general_liability"),
        ("CGL", "general_liability"),
        ("Auto", "automobile_liability"),
        ("Automobile Liability", "automobile_liability"),
        ("Umbrella", "umbrella_liability"),
        ("Excess", "excess_liability"),
        ("Workers Compensation", "workers_compensation"),
        ("Workers Comp", "workers_compensation"),
        ("WC", "workers_compensation"),
        ("workers_compensation", "workers_compensation"),
        ("", None),
    ],
)
def test_coverage_names(raw: str, key: str | None) -> None:
    assert parse_coverage(raw) == key


def test_email() -> None:
    assert parse_email(" Ops@Acme.EXAMPLE ") == "Ops@acme.example"
    for raw in ("no-at", "a@b", "a..b@c.com", "a@-b.com"):
        with pytest.raises(ValueError):
            parse_email(raw)


def test_headers_ignore_case_spaces_punctuation() -> None:
    mapping, unknown = map_headers(
        ["Vendor E-mail", "VENDOR_NAME", "e.l. each accident", "Policy #", "Notes"]
    )
    assert mapping == {
        0: "vendor_email",
        1: "vendor_name",
        2: "el_each_accident",
        3: "policy_number",
    }
    assert unknown == ["Notes"]


def test_fast_phone_path_agrees_with_phonenumbers() -> None:
    import random

    import phonenumbers

    from comms.roster.values import _fast_nanp

    rnd = random.Random(5)
    checked = 0
    for _ in range(20_000):
        d = f"{rnd.randrange(100, 1000)}{rnd.randrange(0, 1000):03d}{rnd.randrange(0, 10000):04d}"
        a, b, c = d[:3], d[3:6], d[6:]
        text = rnd.choice(
            [
                d,
                f"({a}) {b}-{c}",
                f"+1 {d}",
                f"1-{a}-{b}-{c}",
                f"{a}.{b}.{c}",
                f"+1 ({a}) {b} {c}",
                f"1{d}",
                f"2{d}",
                f"+{d}",
            ]
        )
        region = rnd.choice(["US", "CA"])
        fast = _fast_nanp(text, region)
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            assert fast is None, text
            continue
        if fast is not None:
            checked += 1
            assert phonenumbers.is_valid_number(number), text
            assert fast == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        else:
            # Declined: left to phonenumbers (another NANP region's number, or not valid).
            assert not phonenumbers.is_valid_number_for_region(number, region), text
    assert checked > 1000
