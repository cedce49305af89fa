"""Employee-pension rules: retirement age, minimum months, the divisor, a benefit estimate.

Units: ages are whole months (``age_months``) or years plus extra months; money is integer
fen; contribution indices and divisors are exact ``Fraction`` values, never floats.

Invariants:
- every official figure (ages, steps, cohorts, minimum months, the divisor table, the
  calculation base) is read from the dated policy, never written here;
- a retirement age lies between the category's original and target ages and never falls
  as the birth month rises (NPC decision 2024-09-13);
- each amount of an estimate is rounded once, by ``money.round_half_up``, from an exact
  product; ``total_fen == basic_fen + personal_fen``.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from ledger.domain.errors import BadInput
from ledger.domain.money import round_half_up
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.policy.records import (
    Divisor,
    MinimumMonths,
    PensionBase,
    PensionCalculationBase,
    RetirementFemale50,
    RetirementFemale55,
    RetirementMale,
    RetirementRule,
)

MONTHS_PER_YEAR = 12
# With no date given, rules are read as the latest in the files: the 2024 decision covers
# every cohort (those born before its first cohort keep the original age).
_LATEST = date.max


class Category(StrEnum):
    """The retirement category of a member: men, women retiring from 55, from 50."""

    MALE = "male"
    FEMALE_55 = "female-55"
    FEMALE_50 = "female-50"

    @property
    def sex(self) -> str:
        return "male" if self is Category.MALE else "female"


_RULES: dict[Category, type[RetirementRule]] = {
    Category.MALE: RetirementMale,
    Category.FEMALE_55: RetirementFemale55,
    Category.FEMALE_50: RetirementFemale50,
}


def default_category(sex: str) -> Category:
    """The category for a sex (``"male"``/``"female"``, or ``identity.Sex``).

    Women insured as flexible employees retire from 55 (the cadre age), not from 50 as
    women workers in blue-collar posts do, so a woman defaults to ``FEMALE_55``.
    """
    if sex == "male":
        return Category.MALE
    if sex == "female":
        return Category.FEMALE_55
    raise BadInput("sex", f"{sex!r} is neither 'male' nor 'female'")


@dataclass(frozen=True, slots=True)
class Retirement:
    """When a member reaches the statutory retirement age.

    ``age_months`` is the whole age in months (= ``age_years`` × 12 + ``age_extra_months``);
    ``month`` is the calendar month of birth plus that age; ``date`` is the birth date plus
    that age, its day clamped to the month's end (born on the 31st → 28 February).
    """

    age_months: int
    age_years: int
    age_extra_months: int
    delay_months: int
    month: Month
    date: date
    rule_source: str

    @property
    def age_label(self) -> str:
        """The age as it is usually written: ``"60y1m"``."""
        return f"{self.age_years}y{self.age_extra_months}m"


def _add_months(day: date, months: int) -> date:
    target = Month.of(day) + months
    last = calendar.monthrange(target.year, target.month)[1]
    return date(target.year, target.month, min(day.day, last))


def retirement_rule(
    category: Category, policy: PolicySet, *, on: date | None = None
) -> RetirementRule:
    """The category's retirement-age rule in force on ``on`` (default: the latest)."""
    return policy.at(_RULES[Category(category)], on or _LATEST)


def retirement(
    birth_date: date, category: Category, policy: PolicySet, *, on: date | None = None
) -> Retirement:
    """The statutory retirement age of a member born on ``birth_date``.

    Rule (NPC decision 2024-09-13, in force 2025-01-01): born before the category's first
    cohort → the original age; otherwise the delay is one month for the first cohort plus
    one month per ``step_birth_months`` of birth after it, capped at target − original.
    ``on`` picks the rule in force on that date (default: the latest in the files).
    """
    rule = retirement_rule(category, policy, on=on)
    cohort_months = Month.of(birth_date) - Month.parse(rule.first_cohort)
    ceiling = rule.target_age_months - rule.original_age_months
    delay = 0 if cohort_months < 0 else min(ceiling, cohort_months // rule.step_birth_months + 1)
    age = rule.original_age_months + delay
    years, extra = divmod(age, MONTHS_PER_YEAR)
    return Retirement(
        age_months=age,
        age_years=years,
        age_extra_months=extra,
        delay_months=delay,
        month=Month.of(birth_date) + age,
        date=_add_months(birth_date, age),
        rule_source=rule.source,
    )


def minimum_months(retirement_year: int, policy: PolicySet) -> int:
    """Minimum contribution months for a pension for those retiring in ``retirement_year``.

    The records are keyed by 1 January of the retirement year (180 to 2029, +6 a year from
    2030, 240 from 2039: Social Insurance Law Art. 16; NPC decision 2024-09-13).
    """
    return policy.at(MinimumMonths, date(retirement_year, 1, 1)).months


def _check_extra_months(extra_months: int) -> None:
    if not 0 <= extra_months < MONTHS_PER_YEAR:
        raise BadInput("extra_months", f"{extra_months} is not 0 to 11")


def divisor(
    age_years: int,
    extra_months: int,
    policy: PolicySet,
    variant: str | None = None,
    *,
    on: date | None = None,
) -> Fraction:
    """Months divisor of the personal-account pension at retirement (国发〔2005〕38号).

    The default table gives one value per whole year of age; ``extra_months`` is ignored.
    Ages outside the table (40 to 70 today) are clamped to its ends: below the first age
    the first value, above the last age the last value.

    With a variant whose record says ``interpolate_months`` ("interpolate-months"), the
    value moves linearly towards the next age's by ``extra_months / 12``:
    60y1m → 139 − (139 − 132) / 12 = 1661/12 ≈ 138.4. At the table's last age there is no
    next age, so the value stays put. ``on`` picks the record in force (default: latest).
    """
    _check_extra_months(extra_months)
    record = policy.at(Divisor, on or _LATEST, variant=variant)
    if variant is not None and record.variant != variant:
        # PolicySet.at falls back to the default record; an unknown variant is a typo here.
        raise BadInput("divisor_variant", f"{variant!r} is not a divisor variant in the policy")
    table = record.months_by_age
    first, last = min(table), max(table)
    age = min(max(age_years, first), last)
    value = Fraction(table[age])
    if record.interpolate_months and age_years == age and age < last:
        value -= (value - table[age + 1]) * Fraction(extra_months, MONTHS_PER_YEAR)
    return value


def calculation_base(region: str, on: date, policy: PolicySet) -> int:
    """The region's pension calculation base (计发基数) in force on ``on``, fen per month."""
    return policy.at(PensionCalculationBase, on, region=region).monthly_fen


def _average_wage_exact(region: str, on: date, policy: PolicySet) -> Fraction:
    # Without a published average wage, the ceiling is by definition 300% of it.
    record = policy.at(PensionBase, on, region=region)
    if record.average_wage_fen:
        return Fraction(record.average_wage_fen)
    return Fraction(record.ceiling_fen, 3)


def contribution_index(base_fen: int, region: str, on: date, policy: PolicySet) -> Fraction:
    """A month's contribution index: the base actually paid ÷ that year's average wage.

    The one way every index is computed (DOMAIN.md §6). A base paid "at 60%" is the
    rounded floor, so its index is not 0.60: Beijing 2025, 7,162 / 11,937 = 0.599983...
    Exact ``Fraction``; never a float.
    """
    if isinstance(base_fen, bool) or not isinstance(base_fen, int) or base_fen <= 0:
        raise BadInput("base", f"{base_fen!r} is not a positive base in fen")
    return Fraction(base_fen) / _average_wage_exact(region, on, policy)


@dataclass(frozen=True, slots=True)
class PensionEstimate:
    """A monthly pension estimate in fen, with the eligibility check beside it.

    ``meets_minimum`` is false when ``contribution_months`` is below the minimum for the
    retirement year: the figures are still given, but no pension is payable until then.
    """

    basic_fen: int
    personal_fen: int
    total_fen: int
    contribution_months: int
    minimum_months: int
    meets_minimum: bool
    average_index: Fraction


def _exact(value: Fraction | Decimal | int, field: str) -> Fraction:
    if isinstance(value, float | bool) or not isinstance(value, Fraction | Decimal | int):
        raise TypeError(f"{field}: pass a Fraction, Decimal or int, never a float")
    return Fraction(value)


def estimate_pension(
    *,
    calculation_base_fen: int,
    yearly_indices: Sequence[Fraction | Decimal],
    contribution_months: int,
    personal_balance_fen: int,
    age_years: int,
    extra_months: int,
    retirement_year: int,
    policy: PolicySet,
    divisor_variant: str | None = None,
) -> PensionEstimate:
    """Estimate the monthly pension at retirement.

    Basic pension = C × (1 + mean index) / 2 × (months / 12) × 1%, where C is the local
    calculation base and each index is a year's base ÷ that year's average wage.
    Personal-account pension = balance ÷ divisor at the retirement age. Each part is
    rounded once, to the fen. (DOMAIN.md §6; 国发〔2005〕38号.)
    """
    if not yearly_indices:
        raise BadInput("yearly_indices", "give at least one year's contribution index")
    if contribution_months < 0:
        raise BadInput("contribution_months", "cannot be negative")
    indices = [_exact(v, "yearly_indices") for v in yearly_indices]
    if any(i < 0 for i in indices):
        raise BadInput("yearly_indices", "an index cannot be negative")
    average = sum(indices, Fraction(0)) / len(indices)
    # One percent of the base for every year of contributions, scaled by the mean of
    # "the calculation base" (index 1) and the member's own average level.
    basic = (
        Fraction(calculation_base_fen)
        * (1 + average)
        / 2
        * Fraction(contribution_months, MONTHS_PER_YEAR)
        / 100
    )
    months_divisor = divisor(
        age_years,
        extra_months,
        policy,
        divisor_variant,
        on=date(retirement_year, 1, 1),
    )
    basic_fen = round_half_up(basic)
    personal_fen = round_half_up(Fraction(personal_balance_fen) / months_divisor)
    minimum = minimum_months(retirement_year, policy)
    return PensionEstimate(
        basic_fen=basic_fen,
        personal_fen=personal_fen,
        total_fen=basic_fen + personal_fen,
        contribution_months=contribution_months,
        minimum_months=minimum,
        meets_minimum=contribution_months >= minimum,
        average_index=average,
    )
