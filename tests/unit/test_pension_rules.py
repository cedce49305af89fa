"""Pension rules: retirement age, minimum months, the divisor, the estimate, the CLI.

Figures from official documents are tests citing their source: the divisor table is
国发〔2005〕38号's annex; retirement ages and minimum months are the NPC Standing
Committee decision of 2024-09-13 on the gradual raising of the retirement age.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.cli import main
from ledger.domain.errors import BadInput, NoPolicyInForce
from ledger.domain.identity import Sex, check_character
from ledger.domain.money import round_half_up
from ledger.domain.period import Month
from ledger.domain.policy import default_policy
from ledger.domain.rules.pension import (
    Category,
    calculation_base,
    default_category,
    divisor,
    estimate_pension,
    minimum_months,
    retirement,
    retirement_rule,
)

POLICY = default_policy()


def _age(year: int, month: int, category: Category) -> str:
    return retirement(date(year, month, 15), category, POLICY).age_label


# ------------------------------------------------------------------ retirement age


@pytest.mark.parametrize(
    ("born", "category", "age"),
    [
        ((1964, 12), Category.MALE, "60y0m"),
        ((1965, 1), Category.MALE, "60y1m"),
        ((1965, 4), Category.MALE, "60y1m"),
        ((1965, 5), Category.MALE, "60y2m"),
        ((1976, 8), Category.MALE, "62y11m"),
        ((1976, 9), Category.MALE, "63y0m"),
        ((1990, 1), Category.MALE, "63y0m"),
    ],
)
def test_men_retire_one_month_later_per_four_months_of_birth_from_1965_up_to_63(
    born, category, age
):
    """NPC decision 2024-09-13, annex 1: men 60 → 63; born 1965-01 → 60y1m; 1976-09 → 63."""
    assert _age(*born, category) == age


@pytest.mark.parametrize(
    ("born", "age"),
    [
        ((1974, 12), "50y0m"),
        ((1975, 1), "50y1m"),
        ((1975, 3), "50y2m"),
        ((1984, 9), "54y11m"),
        ((1984, 11), "55y0m"),
        ((1995, 6), "55y0m"),
    ],
)
def test_women_from_50_retire_one_month_later_per_two_months_of_birth_up_to_55(born, age):
    """NPC decision 2024-09-13, annex 2: women at 50 → 55; born 1975-01 → 50y1m; 1984-11 → 55."""
    assert _age(*born, Category.FEMALE_50) == age


@pytest.mark.parametrize(
    ("born", "age"),
    [((1969, 12), "55y0m"), ((1970, 1), "55y1m"), ((1981, 8), "57y11m"), ((1981, 9), "58y0m")],
)
def test_women_from_55_retire_one_month_later_per_four_months_of_birth_up_to_58(born, age):
    """NPC decision 2024-09-13, annex 1: women at 55 → 58, one month per four; 1970-01 → 55y1m."""
    assert _age(*born, Category.FEMALE_55) == age


def test_a_man_born_in_january_1965_retires_in_february_2025_with_one_month_delay():
    """NPC decision 2024-09-13: born 1965-01 → 60y1m, so the age is reached in 2025-02."""
    reached = retirement(date(1965, 1, 15), Category.MALE, POLICY)
    assert (reached.age_months, reached.age_years, reached.age_extra_months) == (721, 60, 1)
    assert reached.delay_months == 1
    assert reached.month == Month(2025, 2)
    assert reached.date == date(2025, 2, 15)
    assert "2024-09-13" in reached.rule_source


def test_retirement_date_of_someone_born_on_the_31st_is_clamped_to_the_month_end():
    reached = retirement(date(1965, 1, 31), Category.MALE, POLICY)
    assert reached.date == date(2025, 2, 28)


@given(
    first=st.dates(date(1940, 1, 1), date(2010, 12, 31)),
    second=st.dates(date(1940, 1, 1), date(2010, 12, 31)),
    category=st.sampled_from(list(Category)),
)
def test_retirement_age_never_falls_as_birth_month_rises_and_stays_within_its_range(
    first, second, category
):
    """NPC decision 2024-09-13: the age rises step by step from the original to the target."""
    earlier, later = sorted((first, second))
    rule = retirement_rule(category, POLICY)
    ages = [retirement(d, category, POLICY).age_months for d in (earlier, later)]
    assert ages[0] <= ages[1]
    for age in ages:
        assert rule.original_age_months <= age <= rule.target_age_months


def test_men_default_to_male_and_women_to_the_category_retiring_from_55():
    assert default_category("male") is Category.MALE
    assert default_category(Sex.FEMALE) is Category.FEMALE_55


def test_an_unknown_sex_is_bad_input_naming_sex():
    with pytest.raises(BadInput) as caught:
        default_category("other")
    assert caught.value.field == "sex"


# ------------------------------------------------------------------ minimum months


@pytest.mark.parametrize(
    ("year", "months"),
    [(2025, 180), (2029, 180), (2030, 186), (2031, 192), (2039, 240), (2045, 240)],
)
def test_minimum_months_rise_six_a_year_from_2030_to_240_in_2039(year, months):
    """NPC decision 2024-09-13: 15 years to 2029, +6 months a year from 2030, 20 years from 2039."""
    assert minimum_months(year, POLICY) == months


# ------------------------------------------------------------------ divisor


@pytest.mark.parametrize(("age", "months"), [(40, 233), (50, 195), (55, 170), (60, 139), (70, 56)])
def test_divisor_table_matches_the_state_council_annex(age, months):
    """国发〔2005〕38号 annex (个人账户养老金计发月数表): 40→233, 50→195, 55→170, 60→139, 70→56."""
    assert divisor(age, 0, POLICY) == months


def test_default_divisor_ignores_extra_months():
    """国发〔2005〕38号: the table gives one value per whole year of age."""
    assert divisor(60, 7, POLICY) == 139


def test_ages_outside_the_divisor_table_are_clamped_to_its_ends():
    assert divisor(38, 0, POLICY) == 233
    assert divisor(75, 0, POLICY) == 56
    assert divisor(70, 6, POLICY, "interpolate-months") == 56


def test_interpolated_divisor_at_60y1m_is_138_point_4():
    """DOMAIN.md §6 (one city's practice on the 国发〔2005〕38号 table): 60y1m → 138.4."""
    value = divisor(60, 1, POLICY, "interpolate-months")
    assert value == 139 - Fraction(139 - 132, 12)
    assert round_half_up(value * 10) == 1384  # 138.4 at one decimal


def test_an_unknown_divisor_variant_is_bad_input():
    with pytest.raises(BadInput) as caught:
        divisor(60, 1, POLICY, "no-such-variant")
    assert caught.value.field == "divisor_variant"


def test_extra_months_outside_0_to_11_are_bad_input():
    with pytest.raises(BadInput):
        divisor(60, 12, POLICY)


# ------------------------------------------------------------------ estimate


def _estimate(**overrides):
    given_values = dict(
        calculation_base_fen=1_204_900,
        yearly_indices=[Decimal("1.0")] * 15,
        contribution_months=180,
        personal_balance_fen=10_000_000,
        age_years=60,
        extra_months=0,
        retirement_year=2025,
        policy=POLICY,
    )
    return estimate_pension(**(given_values | overrides))


def test_fifteen_years_at_index_one_on_beijings_base_earn_15_percent_plus_balance_over_139():
    """DOMAIN.md §6 with 国发〔2005〕38号: 12,049 × (1+1)/2 × 15 × 1% = 1,807.35;
    100,000.00 ÷ 139 = 719.42 (Beijing 2025 calculation base 12,049)."""
    estimate = _estimate()
    assert estimate.basic_fen == 180_735
    assert estimate.personal_fen == 71_942
    assert estimate.total_fen == 180_735 + 71_942
    assert estimate.average_index == 1
    assert (estimate.minimum_months, estimate.meets_minimum) == (180, True)


def test_the_average_index_is_the_mean_of_the_yearly_indices():
    estimate = _estimate(yearly_indices=[Fraction(3, 5), Fraction(7, 5)])
    assert estimate.average_index == 1
    assert estimate.basic_fen == 180_735


def test_too_few_months_keep_the_figures_but_flag_the_minimum_as_unmet():
    """NPC decision 2024-09-13: 186 months needed for retirement in 2030."""
    estimate = _estimate(contribution_months=180, retirement_year=2030)
    assert (estimate.minimum_months, estimate.meets_minimum) == (186, False)
    assert estimate.basic_fen == 180_735


def test_an_interpolated_divisor_changes_only_the_personal_part():
    estimate = _estimate(extra_months=1, divisor_variant="interpolate-months")
    assert estimate.personal_fen == round_half_up(Fraction(10_000_000) / Fraction(1661, 12))
    assert estimate.basic_fen == 180_735


def test_floats_never_reach_the_estimate():
    with pytest.raises(TypeError):
        _estimate(yearly_indices=[1.0])


def test_an_estimate_without_any_year_is_bad_input():
    with pytest.raises(BadInput):
        _estimate(yearly_indices=[])


def test_beijings_calculation_base_for_2025_is_12049_yuan():
    """DOMAIN.md §6: Beijing 2025 pension calculation base 12,049 CNY a month."""
    assert calculation_base("110000", date(2025, 7, 1), POLICY) == 1_204_900


def test_no_calculation_base_before_the_first_one_in_force():
    with pytest.raises(NoPolicyInForce):
        calculation_base("110000", date(1990, 1, 1), POLICY)


# ------------------------------------------------------------------ command line


def _id(first17: str) -> str:
    return first17 + check_character(first17)


MAN_1965 = _id("11010519650115011")  # sequence 011: odd → male
WOMAN_1975 = _id("11010519750101022")  # sequence 022: even → female


def test_retirement_command_prints_a_mans_retirement_as_json(capsys):
    """NPC decision 2024-09-13: born 1965-01 → 60y1m; 国发〔2005〕38号: divisor 139 at 60."""
    assert main(["retirement", "--id", MAN_1965, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "id": MAN_1965,
        "birth_date": "1965-01-15",
        "sex": "male",
        "category": "male",
        "age_years": 60,
        "age_months": 721,
        "retirement_month": "2025-02",
        "retirement_date": "2025-02-15",
        "delay_months": 1,
        "minimum_months": 180,
        "divisor": 139,
    }


def test_retirement_command_prints_a_table_with_the_age_for_people(capsys):
    assert main(["retirement", "--id", MAN_1965]) == 0
    out = capsys.readouterr().out
    assert "60y1m" in out and "2025-02" in out


def test_a_woman_defaults_to_retiring_from_55_and_may_choose_50(capsys):
    """NPC decision 2024-09-13: women at 55 born 1975-01 → 56y4m; at 50 → 50y1m."""
    assert main(["retirement", "--id", WOMAN_1975, "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert (default["category"], default["age_years"], default["age_months"]) == (
        "female-55",
        56,
        676,
    )
    assert main(["retirement", "--id", WOMAN_1975, "--category", "female-50", "--json"]) == 0
    chosen = json.loads(capsys.readouterr().out)
    assert (chosen["age_months"], chosen["retirement_month"]) == (601, "2025-02")


@pytest.mark.parametrize(
    ("number", "category"), [(MAN_1965, "female-55"), (MAN_1965, "female-50"), (WOMAN_1975, "male")]
)
def test_a_category_for_the_other_sex_is_bad_input_naming_category(capsys, number, category):
    assert main(["retirement", "--id", number, "--category", category]) == 2
    assert "category" in capsys.readouterr().err


def test_an_invalid_id_is_bad_input(capsys):
    assert main(["retirement", "--id", MAN_1965[:-1] + "9"]) == 2
    assert "id" in capsys.readouterr().err
