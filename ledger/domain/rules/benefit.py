"""The benefit phase, pure: the award at retirement, the pension in payment, a month's split.

Units: money is integer fen; indices and divisors are exact ``Fraction`` values.

Invariants:
- an award is ``rules.pension.estimate_pension`` applied to the ledger's own months: the
  index of each month is its actual base ÷ the average wage in force on that month's first
  day (``contribution_index``), averaged over the months counted, so a year weighs by
  its months (DOMAIN.md §6: "each year's base ÷ that year's average wage, averaged");
- a pension in payment is the award plus each yearly increase (``pension.increase``)
  effective after the retirement date and by the month paid, each rounded once to the fen
  on the pension in payment before it (so increases compound); an increase is basic
  pension, paid by the pooling fund;
- a month's payment: the basic pension from the pooling fund; the personal-account pension
  from the personal account while it holds enough, and the rest of it from the pooling
  fund (国发〔2005〕38号: once the account is spent the pooling fund pays on);
  ``from_pooling_fen + from_personal_fen == total_fen`` always.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
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
    PensionIncrease,
)
from ledger.domain.rules.pension import (
    MONTHS_PER_YEAR,
    calculation_base,
    contribution_index,
    divisor,
    estimate_pension,
    minimum_months,
)


def age_on(birth: date, on: date) -> tuple[int, int]:
    """Whole years and extra months of age on ``on`` (a birthday counts on its day)."""
    months = Month.of(on) - Month.of(birth) - (1 if on.day < birth.day else 0)
    return divmod(months, MONTHS_PER_YEAR)


@dataclass(frozen=True, slots=True)
class PaidBase:
    """A pension month the member paid: the region whose policy assessed it, and its base."""

    month: Month
    region: str
    base_fen: int


@dataclass(frozen=True, slots=True)
class YearInput:
    """One (region, contribution-year record) of the award's inputs, for the auditor.

    ``average_wage_fen`` is the exact average wage the indices divide by; ``index_sum`` is
    the sum of the indices of the ``months`` paid under that record.
    """

    region: str
    effective: date
    months: int
    base_total_fen: int
    average_wage: Fraction
    index_sum: Fraction
    source: str
    status: str


@dataclass(frozen=True, slots=True)
class Award:
    """A pension awarded at retirement, with every input it was computed from."""

    region: str
    retired_on: date
    first_month: Month
    age_years: int
    age_extra_months: int
    months_counted: int
    minimum_months: int
    index_sum: Fraction
    average_index: Fraction
    calculation_base_fen: int
    personal_balance_fen: int
    divisor: Fraction
    basic_fen: int
    personal_fen: int
    total_fen: int
    years: tuple[YearInput, ...]
    sources: tuple[str, ...]

    @property
    def meets_minimum(self) -> bool:
        return self.months_counted >= self.minimum_months


def compute_award(
    paid: Sequence[PaidBase],
    *,
    region: str,
    retired_on: date,
    age_years: int,
    age_extra_months: int,
    personal_balance_fen: int,
    policy: PolicySet,
    retirement_source: str = "",
    reached_year: int | None = None,
) -> Award:
    """The award of a member retiring on ``retired_on`` in ``region`` (DOMAIN.md §6).

    ``reached_year``: the year the member reached the statutory retirement age (default:
    the year of ``retired_on``). The minimum months are that year's (DOMAIN.md §2: the
    NPC decision of 2024-09-13 raises them by the year one reaches the age, and one short
    of them pays on, 延长缴费, until that minimum), not those of the later year a member
    who paid on retires in.

    ``paid``: every pension month counted, each once. The calculation base is the paying
    region's in force on ``retired_on``; the divisor the one for ``age_years`` (the default
    table: whole years); the first month paid is the month after retirement (次月).
    Raises ``BadInput`` for no months, a month paid twice or after retirement.
    """
    if not paid:
        raise BadInput("member", "has no pension month paid: nothing to award")
    minimum_year = retired_on.year if reached_year is None else reached_year
    if minimum_year > retired_on.year:
        raise BadInput("reached_year", f"{minimum_year} is after the retirement date {retired_on}")
    months = [p.month for p in paid]
    if len(set(months)) != len(months):
        raise BadInput("paid", "a month is counted twice")
    if max(months) > Month.of(retired_on):
        raise BadInput("on", f"{max(months)} is paid after the retirement date {retired_on}")
    if personal_balance_fen < 0:
        raise BadInput("personal_balance_fen", f"{personal_balance_fen} is negative")
    years: dict[tuple[str, date], list[PaidBase]] = {}
    records: dict[tuple[str, date], PensionBase] = {}
    indices: list[Fraction] = []
    for p in sorted(paid, key=lambda p: p.month):
        record = policy.at(PensionBase, p.month.first_day, region=p.region)
        key = (p.region, record.effective)
        records[key] = record
        years.setdefault(key, []).append(p)
        indices.append(contribution_index(p.base_fen, p.region, p.month.first_day, policy))
    year_inputs = []
    for key, group in years.items():
        record = records[key]
        wage = (
            Fraction(record.average_wage_fen)
            if record.average_wage_fen
            else Fraction(record.ceiling_fen, 3)
        )
        year_inputs.append(
            YearInput(
                region=key[0],
                effective=key[1],
                months=len(group),
                base_total_fen=sum(p.base_fen for p in group),
                average_wage=wage,
                index_sum=sum((Fraction(p.base_fen) / wage for p in group), Fraction(0)),
                source=record.source,
                status=record.status,
            )
        )
    base_fen = calculation_base(region, retired_on, policy)
    estimate = estimate_pension(
        calculation_base_fen=base_fen,
        yearly_indices=indices,
        contribution_months=len(indices),
        personal_balance_fen=personal_balance_fen,
        age_years=age_years,
        extra_months=age_extra_months,
        retirement_year=retired_on.year,
        policy=policy,
    )

    sources = (
        "basic = C × (1 + average index) / 2 × months / 12 × 1%; personal = balance ÷ "
        "divisor (国发〔2005〕38号; DOMAIN.md §6)",
        f"C: {policy.at(PensionCalculationBase, retired_on, region=region).source}",
        f"divisor: {policy.at(Divisor, date(retired_on.year, 1, 1)).source}",
        f"minimum months ({minimum_year}, the year the retirement age was reached): "
        f"{policy.at(MinimumMonths, date(minimum_year, 1, 1)).source}",
        *([f"retirement age: {retirement_source}"] if retirement_source else []),
    )
    return Award(
        region=region,
        retired_on=retired_on,
        first_month=Month.of(retired_on) + 1,
        age_years=age_years,
        age_extra_months=age_extra_months,
        months_counted=estimate.contribution_months,
        minimum_months=minimum_months(minimum_year, policy),
        index_sum=sum(indices, Fraction(0)),
        average_index=estimate.average_index,
        calculation_base_fen=base_fen,
        personal_balance_fen=personal_balance_fen,
        divisor=divisor(age_years, age_extra_months, policy, on=date(retired_on.year, 1, 1)),
        basic_fen=estimate.basic_fen,
        personal_fen=estimate.personal_fen,
        total_fen=estimate.total_fen,
        years=tuple(year_inputs),
        sources=sources,
    )


def recompute_basic_fen(
    calculation_base_fen: int, average_index: Fraction, months_counted: int
) -> int:
    """The basic pension from an award row's inputs (what an auditor recomputes)."""
    return round_half_up(
        Fraction(calculation_base_fen)
        * (1 + average_index)
        / 2
        * Fraction(months_counted, MONTHS_PER_YEAR)
        / 100
    )


@dataclass(frozen=True, slots=True)
class Increase:
    """One yearly increase applied: the rate, the fen it adds a month, and its source."""

    effective: date
    rate: Fraction
    amount_fen: int
    source: str
    status: str


@dataclass(frozen=True, slots=True)
class InPayment:
    """The monthly pension in payment for one month: basic (increases included) + personal."""

    basic_fen: int
    personal_fen: int
    increases: tuple[Increase, ...]

    @property
    def total_fen(self) -> int:
        return self.basic_fen + self.personal_fen


def in_payment(
    basic_fen: int, personal_fen: int, retired_on: date, month: Month, policy: PolicySet
) -> InPayment:
    """The pension for ``month`` of an award: every increase effective after ``retired_on``
    and by ``month``'s first day, in order, each ``round(rate × pension before it)``."""
    if month <= Month.of(retired_on):
        raise BadInput("month", f"{month} is not after the retirement month {Month.of(retired_on)}")
    records = sorted(
        (r for r in policy.history(PensionIncrease.path) if isinstance(r, PensionIncrease)),
        key=lambda r: r.effective,
    )
    basic, applied = basic_fen, []
    for record in records:
        if retired_on < record.effective <= month.first_day and record.variant is None:
            amount = round_half_up(Fraction(record.rate) * (basic + personal_fen))
            basic += amount
            applied.append(
                Increase(
                    record.effective, Fraction(record.rate), amount, record.source, record.status
                )
            )
    return InPayment(basic, personal_fen, tuple(applied))


@dataclass(frozen=True, slots=True)
class Split:
    """Who pays a month's pension: ``from_pooling_fen + from_personal_fen == total_fen``."""

    total_fen: int
    from_pooling_fen: int
    from_personal_fen: int


def split_payment(pension: InPayment, personal_balance_fen: int) -> Split:
    """The basic pension from the pooling fund; the personal-account pension from the
    account while it lasts (``personal_balance_fen``, what it holds now, credit positive),
    the remainder from the pooling fund."""
    from_personal = min(pension.personal_fen, max(personal_balance_fen, 0))
    return Split(pension.total_fen, pension.total_fen - from_personal, from_personal)
