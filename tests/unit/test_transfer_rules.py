"""Transfers between regions and where the pension is paid (国办发〔2009〕66号)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger.domain.errors import BadInput, NoPolicyInForce
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet, default_policy
from ledger.domain.rules.transfer import (
    PaidMonth,
    Stint,
    needs_temporary_account,
    pension_place,
    province_of,
    transfer_out,
)

BEIJING, SHANGHAI, TIANJIN = "110000", "310000", "120000"
GUANGZHOU, SHENZHEN = "440100", "440300"

# Beijing floor 7,162: 20% = 1,432.40, personal 572.96, pooling 859.44 (DOMAIN.md §2, §8).
BEIJING_FLOOR_FEN = 716_200
BEIJING_FLOOR_POOLING_FEN = 85_944


@pytest.fixture
def policy() -> PolicySet:
    return default_policy()


def months(
    first: str, last: str, base_fen: int, pooling_fen: int, region: str = BEIJING
) -> list[PaidMonth]:
    return [
        PaidMonth(m, region, base_fen, pooling_fen)
        for m in Month.parse(first).until(Month.parse(last))
    ]


# ---------------------------------------------------------------- money that moves


def test_transfer_moves_twelve_percent_of_each_years_base(policy: PolicySet) -> None:
    """国办发〔2009〕66号 Art. 4 (2): 12% of each year's actual base since 1998.

    24 months at the Beijing floor 7,162 in 2024–2025: 12% × 7,162 × 24 = 20,626.56,
    i.e. 10,313.28 for each year (12 × 7,162 = 85,944 base × 12%).
    """
    paid = months("2024-01", "2025-12", BEIJING_FLOOR_FEN, BEIJING_FLOOR_POOLING_FEN)
    out = transfer_out(paid, BEIJING, 0, date(2026, 1, 15), policy)

    assert out.pooling_moved_fen == 2_062_656
    assert [(y.year, y.months, y.base_total_fen, y.moved_fen) for y in out.years] == [
        (2024, 12, 8_594_400, 1_031_328),
        (2025, 12, 8_594_400, 1_031_328),
    ]
    assert out.months == 24
    assert out.share_rate == Decimal("0.12") and "66号" in out.source


def test_a_flexible_employees_pooling_all_moves_since_it_paid_twelve_percent(
    policy: PolicySet,
) -> None:
    # 20% − 8% personal = 12% pooling paid, exactly the 12% that moves: nothing stays.
    paid = months("2024-01", "2025-12", BEIJING_FLOOR_FEN, BEIJING_FLOOR_POOLING_FEN)
    out = transfer_out(paid, BEIJING, 0, date(2026, 1, 15), policy)
    assert out.pooling_paid_fen == out.pooling_moved_fen
    assert out.pooling_stays_fen == 0


def test_a_part_year_counts_its_actual_months(policy: PolicySet) -> None:
    # 2025-03 to 2025-07: 4 months at 7,000 and 1 at 7,162 → 35,162 × 12% = 4,219.44
    paid = months("2025-03", "2025-06", 700_000, 84_000) + months(
        "2025-07", "2025-07", BEIJING_FLOOR_FEN, BEIJING_FLOOR_POOLING_FEN
    )
    out = transfer_out(paid, BEIJING, 0, date(2025, 8, 1), policy)
    assert [(y.year, y.months, y.base_total_fen, y.moved_fen) for y in out.years] == [
        (2025, 5, 3_516_200, 421_944)
    ]


def test_the_share_is_rounded_once_per_year_not_per_month(policy: PolicySet) -> None:
    # 3 months at 7,000.04: per month 840.0048 → 840.00 each; per year
    # 21,000.12 × 12% = 2,520.0144 → 2,520.01. The year's sum is what is rounded.
    paid = months("2025-01", "2025-03", 700_004, 112_001)
    out = transfer_out(paid, BEIJING, 0, date(2025, 4, 1), policy)
    assert out.pooling_moved_fen == 252_001


def test_months_before_1998_move_no_pooling_but_count_as_months(policy: PolicySet) -> None:
    # 1997-07 to 1998-06: only the six 1998 months move 12% of their base.
    paid = months("1997-07", "1998-06", 100_000, 12_000)
    out = transfer_out(paid, BEIJING, 0, date(2010, 1, 1), policy)
    assert out.months == 12
    assert [(y.year, y.months) for y in out.years] == [(1998, 6)]
    assert out.pooling_moved_fen == 6 * 12_000
    assert out.pooling_paid_fen == 6 * 12_000


def test_the_whole_personal_balance_moves(policy: PolicySet) -> None:
    """国办发〔2009〕66号 Art. 4 (1): the personal account moves whole, interest included."""
    paid = months("2024-01", "2024-12", BEIJING_FLOOR_FEN, BEIJING_FLOOR_POOLING_FEN)
    out = transfer_out(paid, BEIJING, 1_234_567, date(2025, 1, 10), policy)
    assert out.personal_fen == 1_234_567


def test_pooling_that_stays_is_what_was_paid_less_what_moves(policy: PolicySet) -> None:
    # An employer month: 16% pooling on 10,000 = 1,600 paid, 12% = 1,200 moves, 400 stays.
    paid = months("2024-01", "2024-12", 1_000_000, 160_000)
    out = transfer_out(paid, BEIJING, 0, date(2025, 1, 10), policy)
    assert out.pooling_paid_fen == 1_920_000
    assert out.pooling_moved_fen == 1_440_000
    assert out.pooling_stays_fen == 480_000
    assert out.pooling_moved_fen + out.pooling_stays_fen == out.pooling_paid_fen


def test_twelve_percent_moves_even_when_less_was_paid_into_pooling(policy: PolicySet) -> None:
    """国办发〔2009〕66号 Art. 4 (2): 12% of the base moves; the source fund bears any shortfall."""
    # Before 2006 a flexible employee's personal account took 11% of 20%: 9% pooling paid,
    # less than the 12% that must move.
    paid = months("2004-01", "2004-12", 100_000, 9_000)
    out = transfer_out(paid, BEIJING, 0, date(2010, 1, 1), policy)
    assert out.pooling_moved_fen == 12 * 12_000
    assert out.pooling_stays_fen == 12 * 9_000 - 12 * 12_000


def test_only_months_paid_in_the_region_left_count(policy: PolicySet) -> None:
    paid = months("2023-01", "2023-12", 500_000, 60_000, region=SHANGHAI) + months(
        "2024-01", "2024-06", BEIJING_FLOOR_FEN, BEIJING_FLOOR_POOLING_FEN
    )
    out = transfer_out(paid, BEIJING, 0, date(2024, 7, 1), policy)
    assert out.months == 6
    assert out.pooling_moved_fen == 6 * BEIJING_FLOOR_POOLING_FEN


def test_a_month_paid_twice_or_after_the_transfer_is_refused(policy: PolicySet) -> None:
    twice = months("2024-01", "2024-02", 700_000, 84_000) * 2
    with pytest.raises(BadInput):
        transfer_out(twice, BEIJING, 0, date(2024, 3, 1), policy)
    with pytest.raises(BadInput):
        transfer_out(
            months("2024-03", "2024-03", 700_000, 84_000), BEIJING, 0, date(2024, 2, 1), policy
        )


def test_a_transfer_before_the_rules_came_in_force_is_refused(policy: PolicySet) -> None:
    # 国办发〔2009〕66号 applies from 2010-01-01.
    with pytest.raises(NoPolicyInForce):
        transfer_out(
            months("2008-01", "2008-12", 100_000, 12_000), BEIJING, 0, date(2009, 6, 1), policy
        )


# ---------------------------------------------------------------- temporary account


@pytest.mark.parametrize(
    ("sex", "age", "expected"),
    [("male", 50, True), ("male", 49, False), ("female", 40, True), ("female", 39, False)],
)
def test_men_from_50_and_women_from_40_open_a_temporary_account_outside_their_province(
    policy: PolicySet, sex: str, age: int, expected: bool
) -> None:
    """国办发〔2009〕66号 Art. 5 (2): the relationship stays, a temporary account opens."""
    assert needs_temporary_account(sex, age, SHENZHEN, BEIJING, policy) is expected


def test_no_temporary_account_within_the_hukou_province(policy: PolicySet) -> None:
    # Shenzhen hukou enrolling in Guangzhou: both Guangdong (44), so no temporary account.
    assert needs_temporary_account("male", 58, SHENZHEN, GUANGZHOU, policy) is False
    assert needs_temporary_account("female", 45, GUANGZHOU, SHENZHEN, policy) is False


def test_an_unknown_sex_or_region_code_is_refused(policy: PolicySet) -> None:
    with pytest.raises(BadInput) as raised:
        needs_temporary_account("x", 50, SHENZHEN, BEIJING, policy)
    assert raised.value.field == "sex"
    with pytest.raises(BadInput):
        needs_temporary_account("male", 50, "4403", BEIJING, policy)


# ---------------------------------------------------------------- where the pension is paid


def test_rule_1_pays_in_the_hukou_province_when_the_relationship_is_there(
    policy: PolicySet,
) -> None:
    """国办发〔2009〕66号 Art. 6 (1)."""
    place = pension_place(SHENZHEN, [Stint(BEIJING, 150), Stint(GUANGZHOU, 24)], policy)
    assert (place.region, place.rule) == (GUANGZHOU, 1)


def test_rule_2_pays_where_the_relationship_is_after_ten_cumulative_years(
    policy: PolicySet,
) -> None:
    """国办发〔2009〕66号 Art. 6 (2): 80 + 50 months in Beijing add up to more than 10 years."""
    stints = [Stint(GUANGZHOU, 60), Stint(BEIJING, 80), Stint(SHANGHAI, 20), Stint(BEIJING, 50)]
    place = pension_place(SHENZHEN, stints, policy)
    assert (place.region, place.rule) == (BEIJING, 2)


def test_rule_3_goes_back_to_the_last_earlier_place_with_ten_years(policy: PolicySet) -> None:
    """国办发〔2009〕66号 Art. 6 (3): Shanghai has under 10 years; Beijing, the later of the
    two earlier places with 10 years, takes the relationship."""
    stints = [Stint(TIANJIN, 130), Stint(BEIJING, 120), Stint(SHANGHAI, 60)]
    place = pension_place(SHENZHEN, stints, policy)
    assert (place.region, place.rule) == (BEIJING, 3)


def test_rule_4_returns_to_the_hukou_place_when_no_place_has_ten_years(
    policy: PolicySet,
) -> None:
    """国办发〔2009〕66号 Art. 6 (4)."""
    stints = [Stint(BEIJING, 119), Stint(TIANJIN, 100), Stint(SHANGHAI, 100)]
    place = pension_place(SHENZHEN, stints, policy)
    assert (place.region, place.rule) == (SHENZHEN, 4)


def test_ten_years_means_exactly_120_months_or_more(policy: PolicySet) -> None:
    assert pension_place(SHENZHEN, [Stint(BEIJING, 120)], policy).rule == 2
    assert pension_place(SHENZHEN, [Stint(BEIJING, 119)], policy).rule == 4


def test_a_pension_place_needs_a_current_relationship(policy: PolicySet) -> None:
    with pytest.raises(BadInput) as raised:
        pension_place(SHENZHEN, [], policy)
    assert raised.value.field == "stints"


def test_places_compare_by_province() -> None:
    assert province_of(SHENZHEN) == province_of(GUANGZHOU) == "440000"
    assert province_of(BEIJING) == BEIJING
