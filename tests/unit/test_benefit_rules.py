"""The benefit rules, pure: yearly increases of a pension in payment and a month's split.

Increases are the national records of ``ledger/domain/policy/data/national.toml`` (pension.increase,
``unverified``: 3.8% from 2023-01-01, 3% from 2024-01-01, 2% from 2025-01-01); the pooling
fund pays them, the personal-account pension stays what the award said (国发〔2005〕38号).
"""

from __future__ import annotations

from datetime import date

import pytest

from ledger.domain.errors import BadInput
from ledger.domain.period import Month
from ledger.domain.policy import default_policy
from ledger.domain.rules.benefit import InPayment, in_payment, split_payment

POLICY = default_policy()


def test_a_pension_awarded_in_2023_rises_three_then_two_percent_compounding():
    """Award 1,791.02 + 828.78 = 2,619.80 on 2023-06-30. 2024: 3% × 2,619.80 = 78.594 →
    78.59 (2,698.39); 2025: 2% × 2,698.39 = 53.9678 → 53.97 (2,752.36). Both into basic."""
    pension = in_payment(179102, 82878, date(2023, 6, 30), Month(2025, 3), POLICY)
    assert [i.amount_fen for i in pension.increases] == [7859, 5397]
    assert (pension.basic_fen, pension.personal_fen, pension.total_fen) == (
        179102 + 7859 + 5397,
        82878,
        275236,
    )
    assert all(i.status == "unverified" for i in pension.increases)


def test_a_pension_awarded_after_an_increase_takes_only_the_later_ones():
    """Retired 2025-08-15: the 2025 increase (from 2025-01-01) is not his; none after."""
    pension = in_payment(179102, 82878, date(2025, 8, 15), Month(2026, 3), POLICY)
    assert pension.increases == () and pension.total_fen == 261980


def test_a_month_not_after_retirement_is_refused():
    with pytest.raises(BadInput) as refused:
        in_payment(179102, 82878, date(2025, 8, 15), Month(2025, 8), POLICY)
    assert refused.value.field == "month"


@pytest.mark.parametrize(
    ("held", "pooling", "own"),
    [(11520000, 179102, 82878), (82836, 179102 + 42, 82836), (0, 261980, 0), (-5, 261980, 0)],
)
def test_the_split_takes_the_personal_pension_from_the_account_while_it_lasts(held, pooling, own):
    """DOMAIN.md §6 award 1,791.02 + 828.78: the account pays 828.78 while it holds that
    much, what it holds when less (828.36 → 0.42 from pooling), nothing when empty."""
    split = split_payment(InPayment(179102, 82878, ()), held)
    assert (split.from_pooling_fen, split.from_personal_fen) == (pooling, own)
    assert split.from_pooling_fen + split.from_personal_fen == split.total_fen == 261980


def test_the_minimum_months_are_those_of_the_year_the_retirement_age_was_reached():
    """DOMAIN.md §2: 180 months for those retiring to 2029, +6 a year from 2030, so 192 in
    2031 (NPC decision 2024-09-13). A member who reached the age in 2029 short of 180
    months and paid on (延长缴费) into 2031 has 183 months (2016-07..2031-09) on
    2031-10-10: enough by 2029's minimum, which is his; 9 short of 2031's, which is not."""
    from ledger.domain.rules.benefit import PaidBase, compute_award

    paid = [PaidBase(Month(2016, 7) + i, "110000", 800000) for i in range(183)]
    assert paid[-1].month == Month(2031, 9)
    common = dict(
        region="110000",
        retired_on=date(2031, 10, 10),
        age_years=61,
        age_extra_months=0,
        personal_balance_fen=0,
        policy=POLICY,
    )
    paid_on = compute_award(paid, reached_year=2029, **common)
    assert (paid_on.minimum_months, paid_on.meets_minimum) == (180, True)
    assert any("minimum months (2029" in s for s in paid_on.sources)
    retiring_in_2031 = compute_award(paid, **common)
    assert (retiring_in_2031.minimum_months, retiring_in_2031.meets_minimum) == (192, False)
    with pytest.raises(BadInput) as refused:
        compute_award(paid, reached_year=2032, **common)
    assert refused.value.field == "reached_year"
