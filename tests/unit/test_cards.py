from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from d400tui.domain.cards import (
    Brand,
    CardData,
    CardError,
    brand_of,
    card_from_entry,
    clean_pan,
    parse_cvv,
    parse_expiry,
    scrub,
)
from tests.support.demo import TEST_CARDS

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize("pan", sorted(TEST_CARDS))
def test_every_test_card_is_luhn_valid_and_branded(pan: str) -> None:
    assert clean_pan(pan) == pan
    expected = {"4": Brand.VISA, "5": Brand.MASTERCARD, "3": Brand.AMEX}[pan[0]]
    assert brand_of(pan) is expected


@pytest.mark.parametrize(
    "typed",
    [
        "4970 1000-0000 0014",
        "4970\t1000\t0000\t0014",
        "4970\u00a01000\u202f0000\u20090014",
        "4970–1000—0000‑0014",
        "4970.1000.0000.0014",
        "4970/1000/0000/0014",
        "4970_1000_0000_0014",
        " 4970 -1000\u200b0000 . 0014 ",
        "４９７０１０００００００００１４",
        "٤٩٧٠١٠٠٠٠٠٠٠٠٠١٤",
    ],
)
def test_usual_separators_and_any_script_digits_accepted(typed: str) -> None:
    assert clean_pan(typed) == "4970100000000014"


@pytest.mark.parametrize(
    "text,msg",
    [
        ("", "obligatoire"),
        ("4970100000000015", "clé"),
        ("49701000abc00014", "chiffres"),
        ("497010", "13 à 19"),
        ("497010000014", "13 à 19"),
        ("٤٩٧٠١٠٠٠٠٠٠٠٠٠١a", "chiffres"),
        ("4970x1000x0000x0014", "chiffres"),
        ("4" * 10000, "trop long"),
    ],
)
def test_bad_numbers_are_refused_with_a_message(text: str, msg: str) -> None:
    with pytest.raises(CardError, match=msg):
        clean_pan(text)


def test_brand_ranges() -> None:
    assert brand_of("2221000000000009") is Brand.MASTERCARD
    assert brand_of("6759000000000000") is Brand.MAESTRO
    assert brand_of("9999000000000000") is Brand.UNKNOWN


def test_expiry_parsing_and_past_dates() -> None:
    assert str(parse_expiry("12/30")) == "12/30"
    assert str(parse_expiry("1230")) == "12/30"
    assert str(parse_expiry("06/2031")) == "06/31"
    assert not parse_expiry("11/26").is_past(TODAY)  # valid to the end of its month
    with pytest.raises(CardError, match="expirée"):
        parse_expiry("10/26", TODAY)
    for bad in ("13/30", "00/30", "ab/cd", "", "12/3", "12/30" * 100):
        with pytest.raises(CardError):
            parse_expiry(bad)


def test_cvv_length_depends_on_brand() -> None:
    assert parse_cvv("123", Brand.VISA) == "123"
    assert parse_cvv("1234", Brand.AMEX) == "1234"
    with pytest.raises(CardError):
        parse_cvv("1234", Brand.VISA)
    with pytest.raises(CardError):
        parse_cvv("12a", Brand.VISA)


def test_card_data_never_shows_the_number() -> None:
    c = card_from_entry("4970100000000014", "12/30", "123", TODAY)
    for text in (repr(c), str(c), f"{c}", str([c]), str(c.masked)):
        assert "4970100000000014" not in text
        assert "123" not in text.replace("12/30", "")
    assert str(c.masked) == "497010…0014"


def test_scrub_masks_luhn_valid_runs_only() -> None:
    text = "card 4970100000000014 and 4970 1000 0000 0022, order 1234567890123 stays"
    out = scrub(text)
    assert "4970100000000014" not in out and "497010******0014" in out
    assert "4970 10** **** 0022" in out
    assert "1234567890123" in out  # not Luhn-valid: left alone


@given(st.text(max_size=200))
def test_any_text_gives_a_card_or_a_clear_error(text: str) -> None:
    try:
        pan = clean_pan(text)
    except CardError as exc:
        assert str(exc)
    else:
        assert pan.isascii() and pan.isdigit() and 13 <= len(pan) <= 19


@given(st.text(max_size=40))
def test_any_expiry_text_gives_an_expiry_or_a_clear_error(text: str) -> None:
    try:
        e = parse_expiry(text, TODAY)
    except CardError as exc:
        assert exc.field == "expiry"
    else:
        assert 1 <= e.month <= 12 and not e.is_past(TODAY)


@given(st.from_regex(r"4970100000000[0-9]{3}", fullmatch=True), st.text(max_size=30))
def test_scrub_never_lets_a_valid_number_through(pan: str, noise: str) -> None:
    from stdnum import luhn

    if luhn.is_valid(pan):
        out = scrub(f"{noise} {pan} {noise}")
        assert pan not in out.replace(" ", "").replace("-", "")


def test_card_data_requires_parsed_expiry() -> None:
    c = CardData("4970100000000014", parse_expiry("12/30"))
    assert c.brand is Brand.VISA
