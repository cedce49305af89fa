"""The contribution index is the base actually paid ÷ that year's average wage (DOMAIN.md §6).

Every index the ledger computes goes through ``rules.pension.contribution_index``; the
``flexledger report`` projection is one of its users, so its 60% line uses the rounded
floor's index, not exactly 0.60.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from ledger.domain.errors import BadInput
from ledger.domain.period import Month
from ledger.domain.policy import default_policy
from ledger.domain.policy.records import PensionBase
from ledger.domain.rules.pension import contribution_index
from ledger.report.figures import projected_pensions

POLICY = default_policy()


def test_beijing_2025_floor_index_is_7162_over_11937_not_sixty_percent():
    """DOMAIN.md §6 (index = base ÷ average wage), §8 (Beijing 2025 floor 7,162, average
    wage 11,937 = ceiling 35,811 ÷ 3): 7,162 / 11,937 = 0.5999832..., below 0.60."""
    index = contribution_index(716200, "110000", date(2025, 7, 1), POLICY)
    assert index == Fraction(7162, 11937)
    assert index < Fraction(3, 5)
    assert round(float(index), 7) == 0.5999832


def test_an_index_without_a_published_average_wage_is_base_over_a_third_of_the_ceiling():
    """DOMAIN.md §8: the ceiling is 300% of the average wage, so the average is ceiling ÷ 3
    where no average is published; the index stays exact (a Fraction)."""
    for region in ("110000", "120000", "310000", "440100", "440300"):
        record = POLICY.at(PensionBase, date(2025, 7, 1), region=region)
        average = (
            Fraction(record.average_wage_fen)
            if record.average_wage_fen
            else Fraction(record.ceiling_fen, 3)
        )
        index = contribution_index(record.floor_fen, region, date(2025, 7, 1), POLICY)
        assert index == Fraction(record.floor_fen) / average


def test_a_base_that_is_not_a_positive_fen_amount_is_refused_naming_the_field():
    with pytest.raises(BadInput, match="base"):
        contribution_index(0, "110000", date(2025, 7, 1), POLICY)


@pytest.mark.parametrize(
    ("years", "total_fen", "with_sixty_percent_fen"),
    [(15, 218782, 218784), (35, 510493, 510497)],
)
def test_the_report_projection_at_the_floor_uses_the_index_paid_two_to_four_fen_lower(
    years, total_fen, with_sixty_percent_fen
):
    """Hand-computed, DOMAIN.md §6 and §8, Beijing 2025-07 (C = 12,049, floor 7,162, personal
    8% = 572.96 a month, divisor at 60 = 139):
    basic 15 y = 12,049 × (1 + 7,162/11,937) / 2 × 15 × 1% = 1,445.8649 → 1,445.86;
    personal 15 y = 572.96 × 180 / 139 = 741.9626 → 741.96; total 2,187.82.
    basic 35 y = 3,373.6847 → 3,373.68; personal 572.96 × 420 / 139 = 1,731.246 → 1,731.25;
    total 5,104.93. With an index of exactly 0.60 the basic parts are 1,445.88 and
    3,373.72: 2 and 4 fen too high, as issue 21 says."""
    projection = dict(projected_pensions(POLICY, "110000", Month(2025, 7))["60"])
    assert projection[years] == total_fen
    assert with_sixty_percent_fen - projection[years] == {15: 2, 35: 4}[years]
