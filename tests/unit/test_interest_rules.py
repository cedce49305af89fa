"""Personal-account interest: rates by year, the two crediting methods, corrections."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from ledger.domain.errors import BadInput, NoPolicyInForce
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet, default_policy, load_policy
from ledger.domain.policy.loader import DATA_DIR
from ledger.domain.rules.interest import (
    Deposit,
    credit_year,
    credit_years,
    rate_correction,
    rate_for,
)

# Beijing floor 7,162 × 8% = 572.96 to the personal account each month (DOMAIN.md §2).
PERSONAL_AT_BEIJING_FLOOR_FEN = 57296

# A hypothetical official 2025 rate, published after the provisional one: not a real figure.
OFFICIAL_2025 = """
[[interest.rate]]
year = 2025
effective = 2025-01-01
published = 2026-06-15
rate = "0.0200"
source = "test fixture: a hypothetical official 2025 rate"
"""


@pytest.fixture
def policy() -> PolicySet:
    return default_policy()


@pytest.fixture
def policy_with_official_2025(tmp_path: Path) -> PolicySet:
    national = tmp_path / "national.toml"
    shutil.copy(DATA_DIR / "national.toml", national)
    with national.open("a", encoding="utf-8") as handle:
        handle.write(OFFICIAL_2025)
    return load_policy(tmp_path)


def monthly(year: int, amount_fen: int) -> list[Deposit]:
    return [Deposit(Month(year, m), amount_fen) for m in range(1, 13)]


# ---------------------------------------------------------------- rates


@pytest.mark.parametrize(
    ("year", "rate"),
    [
        (2016, "0.0831"),
        (2017, "0.0712"),
        (2018, "0.0829"),
        (2019, "0.0761"),
        (2020, "0.0604"),
        (2021, "0.0669"),
        (2022, "0.0612"),
        (2023, "0.0397"),
        (2024, "0.0262"),
    ],
)
def test_official_rates_are_the_published_ones(policy: PolicySet, year: int, rate: str) -> None:
    """DOMAIN.md §4, from the 人社厅 notices (e.g. 人社厅发〔2017〕71号 for 2016).

    2021 is 6.69% and 2022 6.12%: the 5.35% / 6.04% seen in some code are errors.
    """
    found = rate_for(year, policy)
    assert found.rate == Decimal(rate)
    assert found.provisional is False
    assert found.source


@pytest.mark.parametrize(("year", "rate"), [(2025, "0.015"), (2026, "0.026")])
def test_2025_and_2026_rates_are_provisional(policy: PolicySet, year: int, rate: str) -> None:
    """DOMAIN.md §4: 2025 1.5% and 2026 2.60%, provisional until the official notices."""
    found = rate_for(year, policy)
    assert (found.rate, found.provisional) == (Decimal(rate), True)
    assert found.source


@pytest.mark.parametrize("year", [2015, 2027])
def test_a_year_without_a_rate_is_refused_not_borrowed(policy: PolicySet, year: int) -> None:
    with pytest.raises(NoPolicyInForce):
        rate_for(year, policy)


def test_a_rate_not_yet_published_is_not_known(policy: PolicySet) -> None:
    # The 2024 rate was published 2025-06-01; before that there was no 2024 rate at all.
    with pytest.raises(NoPolicyInForce):
        rate_for(2024, policy, known_at=date(2025, 5, 31))
    assert rate_for(2024, policy, known_at=date(2025, 6, 1)).rate == Decimal("0.0262")


# ---------------------------------------------------------------- one year


def test_an_opening_balance_earns_a_full_year_at_the_rate(policy: PolicySet) -> None:
    # 10,000.00 × 2.62% = 262.00
    credit = credit_year(2024, 1_000_000, [], policy)
    assert credit.interest_fen == 26_200
    assert credit.closing_fen == 1_026_200
    assert credit.method == "months-held"
    assert credit.provisional is False


def test_twelve_monthly_deposits_earn_by_months_held(policy: PolicySet) -> None:
    """Beijing floor, 572.96 a month in 2025 at the provisional 1.5%, months-held.

    Months held: January 12 … December 1, Σ = 78 = 6.5 years of one deposit.
    57,296 fen × 6.5 × 1.5% = 57,296 × 0.0975 = 5,586.36 fen → 5,586 fen = 55.86 yuan.
    Closing: 12 × 572.96 = 6,875.52 + 55.86 = 6,931.38.
    """
    credit = credit_year(2025, 0, monthly(2025, PERSONAL_AT_BEIJING_FLOOR_FEN), policy)
    assert credit.deposit_interest == Fraction("5586.36")
    assert credit.interest_fen == 5_586
    assert credit.closing_fen == 693_138
    assert credit.provisional is True


def test_a_december_deposit_earns_one_month_and_a_january_one_twelve(policy: PolicySet) -> None:
    # 12,000.00 at 2.62%: January → 314.40; December → 314.40 / 12 = 26.20
    january = credit_year(2024, 0, [Deposit(Month(2024, 1), 1_200_000)], policy)
    december = credit_year(2024, 0, [Deposit(Month(2024, 12), 1_200_000)], policy)
    assert (january.interest_fen, december.interest_fen) == (31_440, 2_620)


def test_the_1997_rule_gives_the_years_deposits_rate_times_1083_halved(
    policy: PolicySet,
) -> None:
    """国发〔1997〕26号 rule, variant national-1997.

    12 × 57,296 = 687,552 fen × 1.5% × 1.083 × ½ = 5,584.6411… fen → 5,585 fen.
    """
    credit = credit_year(
        2025, 0, monthly(2025, PERSONAL_AT_BEIJING_FLOOR_FEN), policy, variant="national-1997"
    )
    assert credit.method == "half-year-1.083"
    assert credit.interest_fen == 5_585


@pytest.mark.parametrize(
    ("year", "held_fen", "halved_fen"), [(2024, 9_758, 9_755), (2025, 5_586, 5_585)]
)
def test_the_two_methods_agree_within_a_few_fen_for_twelve_equal_deposits(
    policy: PolicySet, year: int, held_fen: int, halved_fen: int
) -> None:
    """6.5 deposit-years (months-held) against 6.498 (1.083 × ½ × 12).

    2024 at 2.62%: 57,296 × 6.5 × 2.62% = 9,757.51 → 9,758; × 6.498 → 9,754.51 → 9,755.
    The gap is 0.002 × one deposit × rate: well under a yuan at any real base.
    """
    deposits = monthly(year, PERSONAL_AT_BEIJING_FLOOR_FEN)
    held = credit_year(year, 0, deposits, policy)
    halved = credit_year(year, 0, deposits, policy, variant="national-1997")
    assert (held.interest_fen, halved.interest_fen) == (held_fen, halved_fen)
    assert 0 <= held.interest_fen - halved.interest_fen <= 3


def test_interest_is_rounded_once_on_the_sum(policy: PolicySet) -> None:
    # opening 0.19 × 2.62% = 0.4978 fen and a December 0.19 → 0.0415 fen: each alone rounds
    # to 0, their exact sum 0.5393 fen rounds to 1.
    credit = credit_year(2024, 19, [Deposit(Month(2024, 12), 19)], policy)
    assert round(credit.opening_interest) == 0 and round(credit.deposit_interest) == 0
    assert credit.interest_fen == 1


def test_a_negative_correction_deposit_earns_negative_interest(policy: PolicySet) -> None:
    credit = credit_year(2024, 0, [Deposit(Month(2024, 1), -1_000_000)], policy)
    assert credit.interest_fen == -26_200
    assert credit.closing_fen == -1_026_200


def test_a_deposit_from_another_year_is_refused(policy: PolicySet) -> None:
    with pytest.raises(BadInput) as raised:
        credit_year(2024, 0, [Deposit(Month(2025, 1), 100)], policy)
    assert raised.value.field == "deposits"


# ---------------------------------------------------------------- years and corrections


def test_years_compound_each_closing_opening_the_next(policy: PolicySet) -> None:
    # 2023: 10,000.00 × 3.97% = 397.00 → 10,397.00
    # 2024: 10,397.00 × 2.62% = 272.4014 → 272.40; + 1,200.00 in Jan × 2.62% = 31.44
    #       → 10,397.00 + 1,200.00 + 303.84 = 11,900.84
    credits = credit_years(2023, 2024, 1_000_000, [Deposit(Month(2024, 1), 120_000)], policy)
    assert [c.year for c in credits] == [2023, 2024]
    assert credits[0].closing_fen == 1_039_700
    assert credits[1].opening_fen == credits[0].closing_fen
    assert credits[1].interest_fen == 27_240 + 3_144
    assert credits[1].closing_fen == 1_190_084


def test_crediting_years_refuses_a_deposit_outside_them(policy: PolicySet) -> None:
    with pytest.raises(BadInput):
        credit_years(2023, 2024, 0, [Deposit(Month(2022, 12), 100)], policy)


def test_an_official_rate_supersedes_the_provisional_one_from_its_publication(
    policy_with_official_2025: PolicySet,
) -> None:
    """A provisional year is credited, then corrected when the official rate appears.

    10,000.00 opening plus 572.96 a month in 2025 (6.5 deposit-years = 3,724.24):
    provisional 1.5%:  (1,000,000 + 372,424) × 1.5% = 20,586.36 → 20,586 fen
    official 2.0%:     1,372,424 × 2.0% = 27,448.48 → 27,448 fen
    correction:        27,448 − 20,586 = 6,862 fen
    """
    policy = policy_with_official_2025
    deposits = monthly(2025, PERSONAL_AT_BEIJING_FLOOR_FEN)
    before = credit_year(2025, 1_000_000, deposits, policy, known_at=date(2026, 6, 14))
    after = credit_year(2025, 1_000_000, deposits, policy, known_at=date(2026, 6, 15))
    now = credit_year(2025, 1_000_000, deposits, policy)

    assert (before.rate, before.provisional, before.interest_fen) == (
        Decimal("0.015"),
        True,
        20_586,
    )
    assert (after.rate, after.provisional, after.interest_fen) == (Decimal("0.0200"), False, 27_448)
    assert now == after
    assert rate_correction(2025, 1_000_000, deposits, policy, credited_with=before) == 6_862
    assert (
        rate_correction(
            2025, 1_000_000, deposits, policy, credited_with=before, known_at=date(2026, 1, 1)
        )
        == 0
    )


def test_no_correction_is_due_while_the_rate_is_unchanged(policy: PolicySet) -> None:
    deposits = monthly(2025, PERSONAL_AT_BEIJING_FLOOR_FEN)
    credited = credit_year(2025, 1_000_000, deposits, policy)
    assert rate_correction(2025, 1_000_000, deposits, policy, credited_with=credited) == 0


def test_a_correction_keeps_the_method_it_was_credited_with(
    policy_with_official_2025: PolicySet,
) -> None:
    # 687,552 fen × 1.083 × ½ = 372,309.408 deposit-years at 1.5% → 5,585; at 2.0% → 7,446
    deposits = monthly(2025, PERSONAL_AT_BEIJING_FLOOR_FEN)
    credited = credit_year(
        2025,
        0,
        deposits,
        policy_with_official_2025,
        known_at=date(2026, 1, 1),
        variant="national-1997",
    )
    assert credited.interest_fen == 5_585
    correction = rate_correction(
        2025, 0, deposits, policy_with_official_2025, credited_with=credited
    )
    assert correction == 7_446 - 5_585


def test_a_correction_against_another_balance_is_refused(policy: PolicySet) -> None:
    credited = credit_year(2024, 1_000_000, [], policy)
    with pytest.raises(BadInput) as raised:
        rate_correction(2024, 2_000_000, [], policy, credited_with=credited)
    assert raised.value.field == "credited_with"
    with pytest.raises(BadInput):
        rate_correction(2023, 1_000_000, [], policy, credited_with=credited)
