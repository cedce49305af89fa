"""Measures of a stream of monthly payments: payback, internal rate of return, survival.

A *flow* is ``(month, amount_fen)``: negative what the person pays, positive what they
receive, one entry per month at most, months in order. Money stays integer fen; survival
probabilities and discount factors are ``Decimal`` (28 significant digits); a present
value is rounded once, to the fen, by ``money.round_half_up``.

The internal rate of return is found by bisection on the net present value, in floats: it
is a rate, never money. For flows that are payments first and receipts after (one change
of sign), ``NPV(r)·(1+r)^T`` is a polynomial in ``1 + r`` with one sign change, so by
Descartes' rule of signs it has exactly one positive root: bisection between a rate where
the NPV is positive and one where it is negative cannot miss it, and some 45 halvings
take the bracket below 1e-13 (the result is given to 6 places). numpy-financial's ``irr``
finds all roots of a polynomial of degree T (500 months and more here) to pick one, and
scipy's ``brentq`` would add a large dependency for the one root a dozen lines find.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, localcontext
from fractions import Fraction

from ledger.compare.scenario import LifeTable
from ledger.domain.money import round_half_up
from ledger.domain.period import Month

Flow = tuple[Month, int]
# The bracket of the search, monthly: beyond it (1 + r)^-t overflows a float over 80 years.
LOWEST_MONTHLY, HIGHEST_MONTHLY = -0.05, 1.0
MONTHS_PER_YEAR = 12


def payback(flows: Sequence[Flow]) -> Month | None:
    """The first month at whose end what was received reaches what was paid, nominally.

    ``None`` when it never does within the flows.
    """
    paid = sum(-a for _, a in flows if a < 0)
    received = 0
    for month, amount in flows:
        if amount > 0:
            received += amount
            if received >= paid:
                return month
    return None


def npv(flows: Sequence[Flow], monthly_rate: float, start: Month) -> float:
    """Net present value at ``start`` of ``flows`` at a monthly rate (floats: a search aid)."""
    return _npv([m - start for m, _ in flows], [float(a) for _, a in flows], monthly_rate)


def _npv(offsets: Sequence[int], amounts: Sequence[float], monthly_rate: float) -> float:
    log_v = -math.log1p(monthly_rate)
    return math.fsum(a * math.exp(log_v * t) for t, a in zip(offsets, amounts, strict=True))


def irr(flows: Sequence[Flow]) -> Decimal | None:
    """The yearly internal rate of return of monthly ``flows``: (1 + r_month)^12 − 1.

    ``None`` when the flows do not both pay and receive, or no monthly rate between
    ``LOWEST_MONTHLY`` (−5%, −46% a year) and ``HIGHEST_MONTHLY`` (+100%) makes the net
    present value zero. Rounded to 6 decimal places.
    """
    if not flows or not any(a < 0 for _, a in flows) or not any(a > 0 for _, a in flows):
        return None
    start = flows[0][0]
    offsets, amounts = [m - start for m, _ in flows], [float(a) for _, a in flows]
    low, high = LOWEST_MONTHLY, HIGHEST_MONTHLY
    f_low, f_high = _npv(offsets, amounts, low), _npv(offsets, amounts, high)
    if f_low == 0:
        high = low
    elif f_high == 0:
        low = high
    elif (f_low > 0) == (f_high > 0):
        return None
    for _ in range(200):
        mid = (low + high) / 2
        f_mid = _npv(offsets, amounts, mid)
        if (f_mid > 0) == (f_low > 0):
            low, f_low = mid, f_mid
        else:
            high = mid
        if high - low < 1e-13:
            break
    yearly = (1 + (low + high) / 2) ** MONTHS_PER_YEAR - 1
    return Decimal(repr(yearly)).quantize(Decimal("0.000001"))


def discount_factor(rate: Decimal, months: int) -> Decimal:
    """(1 + rate)^(−months / 12): what one fen ``months`` later is worth now."""
    with localcontext() as ctx:
        ctx.prec = 28
        return (Decimal(1) + rate) ** (Decimal(-months) / MONTHS_PER_YEAR)


def present_value(
    flows: Sequence[Flow], rate: Decimal, now: Month, weights: dict[Month, Decimal] | None = None
) -> int:
    """Σ amount × weight × discount at ``now``, rounded once to the fen.

    ``weights`` (survival probabilities by month) default to 1.
    """
    with localcontext() as ctx:
        ctx.prec = 28
        monthly = (Decimal(1) + rate) ** (Decimal(-1) / MONTHS_PER_YEAR)
        total = Decimal(0)
        for month, amount in flows:
            weight = Decimal(1) if weights is None else weights.get(month, Decimal(0))
            total += Decimal(amount) * weight * monthly ** (month - now)
    return round_half_up(total)


def survival(table: LifeTable, sex: str, age_months: int) -> list[Decimal]:
    """P(alive at age ``age_months + k`` months | alive at ``age_months``), k = 0, 1, 2, ….

    The list ends where the probability is 0: at ``max_age``, or at a q(x) of 1. Within a
    year of age the force of mortality is constant (Gompertz: exact integral).
    """
    with localcontext() as ctx:
        ctx.prec = 28
        last = table.max_age * MONTHS_PER_YEAR
        alive = [_alive_at(table, sex, m) for m in range(age_months, last + 1)]
        start = alive[0]
        if start == 0:
            return [Decimal(0)]
        found = [p / start for p in alive]
        while found and found[-1] == 0 and len(found) > 1 and found[-2] == 0:
            found.pop()
        return found


def _alive_at(table: LifeTable, sex: str, age_months: int) -> Decimal:
    """P(alive at ``age_months`` | born), from the table."""
    x = Decimal(age_months) / MONTHS_PER_YEAR
    if age_months >= table.max_age * MONTHS_PER_YEAR:
        return Decimal(0)
    if table.model == "gompertz":
        a = table.male_a if sex == "male" else table.female_a
        assert a is not None and table.b is not None
        b = table.b
        return (-(a / b) * ((b * x).exp() - 1)).exp()
    qx = table.male_qx if sex == "male" else table.female_qx
    assert qx is not None
    years, extra = divmod(age_months, MONTHS_PER_YEAR)
    p = Decimal(1)
    for age in range(table.from_age, years):
        p *= 1 - _q(qx, age - table.from_age)
        if p == 0:
            return p
    if extra and years >= table.from_age:
        q = _q(qx, years - table.from_age)
        p *= Decimal(0) if q == 1 else (1 - q) ** (Decimal(extra) / MONTHS_PER_YEAR)
    return p


def _q(qx: Sequence[Decimal], i: int) -> Decimal:
    return qx[min(i, len(qx) - 1)]


def life_expectancy_months(alive: Sequence[Decimal]) -> Fraction:
    """Expected months lived from the start of ``alive``: Σ P(alive k months on), k ≥ 1."""
    return Fraction(sum(alive[1:], Decimal(0)))
