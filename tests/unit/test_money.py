"""Money: integer fen, yuan strings, the one rounding rule, exact splits."""

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.errors import InvalidAmount
from ledger.domain.money import (
    apply_rate,
    format_yuan,
    parse_rate,
    parse_yuan,
    round_half_up,
    split,
)


@pytest.mark.parametrize(
    ("text", "fen"),
    [("1432.40", 143240), ("7162", 716200), ("0.5", 50), ("-0.05", -5), ("1,234.56", 123456)],
)
def test_yuan_strings_parse_to_integer_fen(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["1.234", "abc", "", "1e3", "12.", ".5", "NaN", "1 000"])
def test_malformed_yuan_is_refused_naming_the_field(text):
    with pytest.raises(InvalidAmount) as caught:
        parse_yuan(text, field="base")
    assert caught.value.field == "base"
    assert "two decimal places" in caught.value.rule


def test_fen_format_with_exactly_two_places():
    assert format_yuan(143240) == "1432.40"
    assert format_yuan(5) == "0.05"
    assert format_yuan(-5) == "-0.05"
    assert format_yuan(0) == "0.00"


def test_floats_never_touch_money():
    with pytest.raises(TypeError):
        round_half_up(0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_yuan(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        apply_rate(716200, 0.2)  # type: ignore[arg-type]


def test_halves_round_up_and_away_from_zero():
    assert round_half_up(Fraction(1, 2)) == 1
    assert round_half_up(Fraction(-1, 2)) == -1
    assert round_half_up(Decimal("2.4999")) == 2
    assert round_half_up(Decimal("716220"), unit_fen=100) == 716200
    assert round_half_up(Decimal("716250"), unit_fen=100) == 716300


def test_rounding_is_exact_however_long_the_fraction():
    """Just under a half rounds down and a half rounds up, even 70 digits down, where a
    60-digit decimal division would have rounded the difference away."""
    tiny = Fraction(1, 10**70)
    assert round_half_up(Fraction(1, 2) - tiny) == 0
    assert round_half_up(Fraction(-1, 2) + tiny) == 0
    assert round_half_up(Fraction(5, 2) - tiny, unit_fen=1) == 2
    assert round_half_up(Fraction(150, 1) - tiny, unit_fen=100) == 100
    with pytest.raises(TypeError):
        round_half_up("0.5")  # type: ignore[arg-type]


@given(
    value=st.one_of(
        st.integers(min_value=-(10**12), max_value=10**12),
        st.fractions(min_value=-(10**12), max_value=10**12),
        st.decimals(min_value=-(10**12), max_value=10**12, places=6),
    ),
    unit_fen=st.sampled_from([1, 100]),
)
def test_rounding_is_the_nearest_multiple_with_halves_away_from_zero(value, unit_fen):
    exact = Fraction(value) / unit_fen
    nearest = math.floor(abs(exact) + Fraction(1, 2))
    assert round_half_up(value, unit_fen) == (nearest if exact >= 0 else -nearest) * unit_fen


@given(
    amount_fen=st.integers(min_value=-(10**12), max_value=10**12),
    rate=st.one_of(
        st.decimals(min_value=0, max_value=1, places=6), st.fractions(min_value=0, max_value=1)
    ),
)
def test_apply_rate_rounds_the_exact_product(amount_fen, rate):
    assert apply_rate(amount_fen, rate) == round_half_up(Fraction(amount_fen) * Fraction(rate))


def test_beijing_floor_contribution_to_the_fen():
    """Beijing floor 7,162 × 20% = 1,432.40, personal 8% = 572.96, pooling 859.44.

    Source: DOMAIN.md §2 (京人社发〔2025〕11号; 国发〔2005〕38号).
    """
    total = apply_rate(716200, Decimal("0.20"))
    personal, pooling = split(total, apply_rate(716200, Decimal("0.08")))
    assert (total, personal, pooling) == (143240, 57296, 85944)


def test_rates_parse_as_fraction_or_percent():
    assert parse_rate("0.20") == Decimal("0.20")
    assert parse_rate("6.5%") == Decimal("0.065")
    with pytest.raises(InvalidAmount):
        parse_rate("Infinity")


@given(
    base=st.integers(min_value=1, max_value=10**9),
    total_rate=st.decimals(min_value=0, max_value=1, places=4),
    share=st.fractions(min_value=0, max_value=1),
)
def test_splits_always_balance(base, total_rate, share):
    total = apply_rate(base, total_rate)
    personal_rate = Fraction(total_rate) * share
    personal, pooling = split(total, apply_rate(base, personal_rate))
    assert personal + pooling == total
    assert 0 <= personal <= total and 0 <= pooling <= total


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_fen_round_trip_through_yuan_strings(fen):
    assert parse_yuan(format_yuan(fen)) == fen
