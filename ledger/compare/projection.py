"""What each way of paying buys one person: a pure projection, no I/O, no storage.

For one way (resident scheme at a grade, or flexible employee at a base percent, in a
region, directly or through an HR company, from a start month) the projection pays month
by month until the pension starts, then receives the pension until the life table's last
age, all under the dated policy extended past its last year by the scenario
(``projected_policy``). Every amount comes from the ledger's own rules:
``rules.contribution.assess`` (base, 20%, 8% personal), ``rules.interest.credit_years``
(the personal account), ``rules.pension`` (retirement age, minimum months, divisor,
``contribution_index`` of each month's actual base, ``estimate_pension``) and
``rules.transfer.pension_place`` (whose calculation base the pension uses).

Conventions, stated once:
- *paid* counts what is paid from the start on, HR company fees included; months already
  paid (``Person.paid_months``) are sunk but count toward the pension;
- the personal account earns interest for every full calendar year before the award; the
  award year's deposits earn none (the award is computed before that year's credit);
- pensions rise each January after the award year by that year's dated
  ``pension.increase`` (the policy files; after their last year the scenario's
  ``pension_increase``, ``projected_policy``), each year's figure rounded once; a way
  short of the minimum months awards nothing (shown, flagged, never best);
- the IRR runs to the expected age at death given survival to the award; the expected
  value weights each pension month by the chance of being alive at its end, from today,
  and discounts at ``discount_rate``; contributions are not weighted (what the person
  commits to pay).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from ledger.compare.measures import (
    Flow,
    irr,
    life_expectancy_months,
    payback,
    present_value,
    survival,
)
from ledger.compare.model import Context, Outcome, Person, Way
from ledger.compare.projected import projected_policy, scheme_region
from ledger.compare.scenario import CompareScenario
from ledger.domain.errors import BadInput, BaseOutsideRange
from ledger.domain.money import FEN_PER_YUAN, apply_rate, format_yuan, round_half_up
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.policy.records import (
    AffiliateFee,
    LifeTable,
    PensionBase,
    PensionIncrease,
    PensionRate,
    ResidentPension,
    ResidentPensionBenefit,
)
from ledger.domain.rules.contribution import BaseChoice, assess
from ledger.domain.rules.interest import Deposit, credit_years
from ledger.domain.rules.pension import (
    calculation_base,
    contribution_index,
    estimate_pension,
    retirement,
)
from ledger.domain.rules.transfer import Stint, pension_place
from ledger.domain.schemes import Scheme

MONTHS_PER_YEAR = 12


def context(person: Person, policy: PolicySet, scenario: CompareScenario, as_of: Month) -> Context:
    """Check the person against the rules and prepare what the ways share."""
    reached = retirement(person.birth_date, person.category, policy)
    if reached.month <= as_of:
        raise BadInput(
            "id",
            f"born {person.birth_date}: the retirement age {reached.age_label} was "
            f"reached in {reached.month}, not after {as_of}: no way of paying is left to compare",
        )
    age_now = as_of - Month.of(person.birth_date)
    working = age_now - 16 * MONTHS_PER_YEAR
    if working < 0:
        raise BadInput(
            "id",
            f"born {person.birth_date}: under 16 in {as_of}, too young to "
            "insure as a flexible employee (Labour Law Art. 15)",
        )
    if not 0 <= person.paid_months <= max(working, 0):
        raise BadInput(
            "paid_months",
            f"{person.paid_months} is not 0 to {max(working, 0)}, "
            "the months since the 16th birthday",
        )
    scenario = scenario.with_policy_life_table(policy.at(LifeTable, as_of.first_day))
    last_year = person.birth_date.year + scenario.life_table.max_age + 1
    alive = tuple(survival(scenario.life_table, person.sex, age_now))
    projected = projected_policy(policy, scenario, last_year)
    return Context(person, projected, scenario, as_of, reached, alive)


def _credit(deposits: Sequence[Deposit], first_year: int, award: Month, policy: PolicySet) -> int:
    """The personal account at the award: full years credited, the award year's bare."""
    before = [d for d in deposits if d.month.year < award.year]
    bare = sum(d.amount_fen for d in deposits if d.month.year >= award.year)
    if award.year <= first_year:
        return sum(d.amount_fen for d in before) + bare
    credits = credit_years(first_year, award.year - 1, 0, before, policy)
    return credits[-1].closing_fen + bare


def yearly_rises(policy: PolicySet, first_year: int, last_year: int) -> dict[int, Fraction]:
    """1 + the pension increase effective on 1 January of each year (none: 1), read from
    the dated ``pension.increase`` records of ``policy`` (projected past the files)."""
    rates: dict[int, Fraction] = {}
    for record in policy.history(PensionIncrease.path):
        if isinstance(record, PensionIncrease) and record.variant is None:
            rates[record.effective.year] = Fraction(record.rate)
    return {y: 1 + rates.get(y, Fraction(0)) for y in range(first_year, last_year + 1)}


def risen(amount_fen: int, policy: PolicySet, from_year: int, to_year: int) -> int:
    """``amount_fen`` of ``from_year`` risen by every increase after it through ``to_year``."""
    factor = Fraction(1)
    for rise in yearly_rises(policy, from_year + 1, to_year).values():
        factor *= rise
    return round_half_up(amount_fen * factor)


def _pensions(first: Month, monthly_fen: int, policy: PolicySet, last: Month) -> list[Flow]:
    """The pension each month from ``first`` to ``last``, risen each January after by the
    dated increases (exact product, each year's figure rounded once)."""
    rises = yearly_rises(policy, first.year + 1, last.year)
    by_year: dict[int, int] = {}
    factor = Fraction(1)
    found = []
    for month in first.until(last):
        if month.year not in by_year:
            factor *= rises.get(month.year, Fraction(1))
            by_year[month.year] = round_half_up(monthly_fen * factor)
        found.append((month, by_year[month.year]))
    return found


def employee(ctx: Context, way: Way) -> Outcome:
    """A flexible employee's way: each month assessed at the base percent until retirement."""
    policy, person, award = ctx.policy, ctx.person, ctx.retirement.month
    flows: list[Flow] = []
    deposits: list[Deposit] = []
    indices: list[Fraction] = []
    fees = 0
    for month in way.start.until(award - 1):
        try:
            paid = assess(
                policy, way.region, Scheme.PENSION, month, BaseChoice(percent=way.base_percent)
            )
        except BaseOutsideRange as exc:
            raise BadInput("bases", f"{way.base_percent}%: {exc.rule}") from None
        assert paid.base_fen is not None
        fee = policy.at(AffiliateFee, month.first_day).monthly_fen if way.agency else 0
        fees += fee
        flows.append((month, -(paid.total_fen + fee)))
        deposits.append(Deposit(month, paid.personal_fen))
        indices.append(contribution_index(paid.base_fen, way.region, month.first_day, policy))
    notes: list[str] = []
    prior = list(person.paid_indices or ())
    if person.paid_indices is None and person.paid_months:
        prior = [Fraction(ctx.scenario.prior_index.value)] * person.paid_months
        notes.append(
            f"{person.paid_months} months already paid taken at index "
            f"{ctx.scenario.prior_index.value} (assumed)"
        )
    balance = person.balance_fen
    if balance is None:
        balance = _assumed_balance(ctx, way.region)
        if balance:
            notes.append(f"personal account so far assumed {format_yuan(balance)}")
    if balance:
        deposits.insert(0, Deposit(ctx.as_of, balance))
    at_award = _credit(deposits, ctx.as_of.year, award, policy)
    counted = person.paid_months + len(flows)
    stints = [Stint(person.paid_region, person.paid_months)] if person.paid_region else []
    place = pension_place(person.hukou, [*stints, Stint(way.region, len(flows))], policy)
    paid_at = scheme_region(place.region, policy) or way.region
    if paid_at != way.region:
        notes.append(f"pension paid at {paid_at} ({place.reason})")
    elif scheme_region(place.region, policy) is None:
        notes.append(
            f"pension would be paid at {place.region} ({place.reason}); "
            f"no figures for it: {way.region}'s used"
        )
    c_base = calculation_base(paid_at, award.first_day, policy)
    estimate = estimate_pension(
        calculation_base_fen=c_base,
        yearly_indices=[*prior, *indices],
        contribution_months=counted,
        personal_balance_fen=at_award,
        age_years=ctx.retirement.age_years,
        extra_months=ctx.retirement.age_extra_months,
        retirement_year=award.year,
        policy=policy,
    )
    wage = policy.at(PensionBase, award.first_day, paid_at).average_wage_fen
    return _outcome(
        ctx,
        way,
        flows,
        fees,
        award,
        estimate.meets_minimum,
        estimate.minimum_months,
        counted,
        basic_fen=estimate.basic_fen,
        personal_fen=estimate.personal_fen,
        balance_fen=at_award,
        c_base=c_base,
        average_index=estimate.average_index,
        wage_fen=wage,
        notes=notes,
    )


def _assumed_balance(ctx: Context, region: str) -> int:
    """Months already paid × the personal share at ``prior_index`` of today's wage."""
    months = ctx.person.paid_months
    if not months:
        return 0
    on = ctx.as_of.first_day
    wage = ctx.policy.at(PensionBase, on, region).average_wage_fen or 0
    base = round_half_up(wage * Fraction(ctx.scenario.prior_index.value), FEN_PER_YUAN)
    rate = ctx.policy.at(PensionRate, on, region).personal_rate
    return months * apply_rate(base, rate)


def resident(ctx: Context, way: Way) -> Outcome | None:
    """The residents' pension at a yearly grade, paid at the hukou place until the pension
    age; None when the person reaches that age before the start."""
    policy, person = ctx.policy, ctx.person
    benefit = policy.at(ResidentPensionBenefit, ctx.as_of.first_day)
    award = Month.of(person.birth_date) + benefit.pension_age_years * MONTHS_PER_YEAR
    if award <= way.start:
        return None
    assert way.grade_fen is not None
    months = [way.start, *(Month(y, 1) for y in range(way.start.year + 1, award.year + 1))]
    flows: list[Flow] = []
    deposits: list[Deposit] = []
    for month in (m for m in months if m < award):
        record = policy.at(ResidentPension, month.first_day)
        flows.append((month, -way.grade_fen))
        deposits.append(Deposit(month, way.grade_fen + record.subsidy_for(way.grade_fen)))
    at_award = _credit(deposits, ctx.as_of.year, award, policy)
    basic = risen(benefit.basic_minimum_monthly_fen, policy, benefit.effective.year, award.year)
    personal = round_half_up(Fraction(at_award, benefit.divisor_months))
    minimum = benefit.minimum_years * MONTHS_PER_YEAR
    region = scheme_region(way.region, policy)
    wage = policy.at(PensionBase, award.first_day, region).average_wage_fen if region else None
    notes = [
        f"basic pension: the national minimum {format_yuan(benefit.basic_minimum_monthly_fen)}"
        f" ({benefit.effective.year}) risen by pension.increase; provinces pay more"
    ]
    if person.paid_months:
        notes.append("employee months already paid are not counted here (DOMAIN.md §5)")
    return _outcome(
        ctx,
        way,
        flows,
        0,
        award,
        len(flows) * MONTHS_PER_YEAR >= minimum,
        minimum,
        len(flows) * MONTHS_PER_YEAR,
        basic_fen=basic,
        personal_fen=personal,
        balance_fen=at_award,
        c_base=None,
        average_index=None,
        wage_fen=wage,
        notes=notes,
    )


def _outcome(
    ctx: Context,
    way: Way,
    paid: list[Flow],
    fees: int,
    award: Month,
    eligible: bool,
    minimum: int,
    counted: int,
    *,
    basic_fen: int,
    personal_fen: int,
    balance_fen: int,
    c_base: int | None,
    average_index: Fraction | None,
    wage_fen: int | None,
    notes: list[str],
) -> Outcome:
    scenario, birth = ctx.scenario, Month.of(ctx.person.birth_date)
    total = basic_fen + personal_fen
    last = ctx.as_of + (len(ctx.alive) - 2)
    pensions = _pensions(award, total, ctx.policy, last) if eligible else []
    if not eligible:
        notes = [*notes, f"short of the minimum: {counted} of {minimum} months, no pension"]
    weights = {m: ctx.alive[m - ctx.as_of + 1] for m, _ in pensions}
    rate = scenario.discount_rate.value
    paid_fen = -sum(a for _, a in paid)
    paid_pv = -present_value(paid, rate, ctx.as_of)
    expected = present_value(pensions, rate, ctx.as_of, weights)
    # Expected months lived after the award, given survival to it.
    k = award - ctx.as_of
    lived = life_expectancy_months(ctx.alive[k:]) / Fraction(ctx.alive[k]) if ctx.alive[k] else 0
    irr_end = award + round_half_up(Fraction(lived))
    flows = [*paid, *pensions]
    back = payback(flows) if eligible else None
    return Outcome(
        way=way,
        months_paid=len(paid) if way.scheme == "employee" else len(paid) * 12,
        months_counted=counted,
        minimum_months=minimum,
        eligible=eligible,
        paid_fen=paid_fen,
        fees_fen=fees,
        paid_discounted_fen=paid_pv,
        pension_month=award,
        pension_age_months=award - birth,
        calculation_base_fen=c_base,
        average_index=average_index,
        balance_at_award_fen=balance_fen,
        basic_fen=basic_fen,
        personal_fen=personal_fen,
        pension_fen=total,
        replacement_rate=Fraction(total, wage_fen) if wage_fen else None,
        payback_month=back,
        payback_age_months=None if back is None else back - birth,
        irr=irr([*paid, *(f for f in pensions if f[0] < irr_end)]) if eligible else None,
        irr_to_age_months=irr_end - birth,
        expected_pensions_fen=expected,
        expected_net_fen=expected - paid_pv,
        notes=tuple(notes),
        flows=tuple(flows),
    )
