"""Personal-account interest (记账利率): yearly crediting, compounding, rate corrections.

Units and invariants:
- every amount is an ``int`` in fen; rates are ``Decimal`` read from the policy
  (``interest.rate`` by year, ``interest.method``), never literals here;
- interest is credited once a year, by calendar year, on the balance of 1 January
  (``opening_fen``, a full year at the rate) plus that year's deposits (part of the year,
  by the method in force); the closing balance opens the next year, so years compound;
- interest is computed exactly (``Fraction``) and rounded ONCE per year, by
  ``ledger.domain.money.round_half_up``: ``closing_fen == opening_fen + Σ deposits + interest_fen``;
- a year with no rate in the policy (or none known at ``known_at``) is refused with
  ``NoPolicyInForce``, never credited at a neighbouring year's rate;
- a credit at a provisional rate is never edited: when the official rate is published,
  ``rate_correction`` gives the fen difference, which a correction entry posts.

Methods (DOMAIN.md §4): ``months-held`` (Zhengzhou rule, the default) gives a deposit in
month m of the year (13 − m) months of interest, so January's money earns 12/12 of the
rate and December's 1/12; ``half-year-1.083`` (variant ``national-1997``, 国发〔1997〕26号
accounting rule) gives the year's deposits rate × 1.083 × ½. For 12 equal monthly deposits
the two agree closely: Σ(13 − m)/12 = 78/12 = 6.5 deposit-years against
12 × 1.083 × ½ = 6.498.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from ledger.domain.errors import BadInput, NoPolicyInForce
from ledger.domain.money import round_half_up
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.policy.records import InterestMethod, InterestRate

MONTHS_HELD = "months-held"
HALF_YEAR_PREFIX = "half-year-"
_MONTHS_PER_YEAR = 12


@dataclass(frozen=True, slots=True)
class Deposit:
    """Money credited to the personal account in ``month``; negative for a correction."""

    month: Month
    amount_fen: int


class YearRate(NamedTuple):
    """The crediting rate for one year, whether it is provisional, and its source."""

    rate: Decimal
    provisional: bool
    source: str


@dataclass(frozen=True, slots=True)
class InterestCredit:
    """One year's interest credit.

    ``opening_interest`` and ``deposit_interest`` are exact (unrounded) fen; only their sum
    is rounded, once, into ``interest_fen``. ``variant`` is the policy variant the method
    was chosen under, so that a correction recomputes with the same method.
    """

    year: int
    rate: Decimal
    provisional: bool
    method: str
    opening_fen: int
    deposits_fen: int
    opening_interest: Fraction
    deposit_interest: Fraction
    interest_fen: int
    closing_fen: int
    source: str
    variant: str | None = None


def rate_for(year: int, policy: PolicySet, known_at: date | datetime | None = None) -> YearRate:
    """The crediting rate for ``year`` as known at ``known_at`` (``None``: as known now).

    Raises ``NoPolicyInForce`` when the policy has no rate for that very year, or none
    published by ``known_at`` (the policy lookup alone would answer with an earlier year's
    rate, which must never be credited to this one).
    """
    record = policy.at(InterestRate, date(year, 1, 1), known_at=known_at)
    if record.year != year:
        when = f" as known at {known_at}" if known_at is not None else ""
        raise NoPolicyInForce(InterestRate.path, f"no crediting rate for {year}{when}")
    return YearRate(record.rate, record.status == "provisional", record.source)


def _method(
    year: int, policy: PolicySet, known_at: date | datetime | None, variant: str | None
) -> str:
    return policy.at(InterestMethod, date(year, 1, 1), known_at=known_at, variant=variant).method


def _deposit_years(method: str, deposits: Sequence[Deposit]) -> Fraction:
    """Σ amount × (fraction of a year it earns interest), in exact fen-years."""
    if method == MONTHS_HELD:
        return sum(
            (
                Fraction(d.amount_fen * (_MONTHS_PER_YEAR + 1 - d.month.month), _MONTHS_PER_YEAR)
                for d in deposits
            ),
            Fraction(0),
        )
    if method.startswith(HALF_YEAR_PREFIX):
        # The factor is part of the method's name in the policy ("half-year-1.083"), so the
        # figure lives in the policy data, not here.
        factor = Fraction(method.removeprefix(HALF_YEAR_PREFIX))
        return sum(d.amount_fen for d in deposits) * factor / 2
    raise NoPolicyInForce(InterestMethod.path, f"unknown interest method {method!r}")


def _check_in_year(year: int, deposits: Sequence[Deposit]) -> None:
    for deposit in deposits:
        if deposit.month.year != year:
            raise BadInput(
                "deposits", f"deposit in {deposit.month} does not belong to the {year} credit"
            )


def credit_year(
    year: int,
    opening_fen: int,
    deposits: Sequence[Deposit],
    policy: PolicySet,
    known_at: date | datetime | None = None,
    variant: str | None = None,
) -> InterestCredit:
    """Credit ``year``'s interest on ``opening_fen`` (held all year) and ``deposits``.

    Every deposit must fall in ``year`` (else ``BadInput`` naming ``deposits``). The
    rate is the one known at ``known_at``; ``variant="national-1997"`` selects the
    half-year-1.083 method. ``interest_fen`` is rounded once, half up, from the exact sum
    of ``opening_interest`` and ``deposit_interest``.
    """
    _check_in_year(year, deposits)
    rate, provisional, source = rate_for(year, policy, known_at)
    method = _method(year, policy, known_at, variant)
    exact_rate = Fraction(rate)
    opening_interest = opening_fen * exact_rate
    deposit_interest = _deposit_years(method, deposits) * exact_rate
    interest_fen = round_half_up(opening_interest + deposit_interest)
    deposits_fen = sum(d.amount_fen for d in deposits)
    return InterestCredit(
        year=year,
        rate=rate,
        provisional=provisional,
        method=method,
        opening_fen=opening_fen,
        deposits_fen=deposits_fen,
        opening_interest=opening_interest,
        deposit_interest=deposit_interest,
        interest_fen=interest_fen,
        closing_fen=opening_fen + deposits_fen + interest_fen,
        source=source,
        variant=variant,
    )


def credit_years(
    first_year: int,
    last_year: int,
    opening_fen: int,
    deposits: Sequence[Deposit],
    policy: PolicySet,
    known_at: date | datetime | None = None,
    variant: str | None = None,
) -> list[InterestCredit]:
    """Credit every year from ``first_year`` to ``last_year``, each closing opening the next.

    ``opening_fen`` is the balance on 1 January of ``first_year``; every deposit must fall
    in one of the years (else ``BadInput`` naming ``deposits``).
    """
    if last_year < first_year:
        raise BadInput("last_year", f"{last_year} is before first_year {first_year}")
    by_year: dict[int, list[Deposit]] = {y: [] for y in range(first_year, last_year + 1)}
    for deposit in deposits:
        if deposit.month.year not in by_year:
            raise BadInput(
                "deposits",
                f"deposit in {deposit.month} lies outside {first_year}–{last_year}",
            )
        by_year[deposit.month.year].append(deposit)
    credits: list[InterestCredit] = []
    balance_fen = opening_fen
    for year, year_deposits in by_year.items():
        credit = credit_year(year, balance_fen, year_deposits, policy, known_at, variant)
        credits.append(credit)
        balance_fen = credit.closing_fen
    return credits


def rate_correction(
    year: int,
    opening_fen: int,
    deposits: Sequence[Deposit],
    policy: PolicySet,
    credited_with: InterestCredit,
    known_at: date | datetime | None = None,
) -> int:
    """Fen to post so that ``year``'s credit matches the rate known now (or at ``known_at``).

    Recomputes the credit with the same method (variant) as ``credited_with`` and returns
    ``new.interest_fen − credited_with.interest_fen``: 0 when no new rate was published,
    negative when the official rate is lower than the provisional one. Only this year's
    difference: the changed closing balance changes the next years' opening interest, which
    the caller corrects year by year (``credit_years`` recomputed shows the whole chain).
    """
    if credited_with.year != year:
        raise BadInput("credited_with", f"is the {credited_with.year} credit, not {year}'s")
    deposits_fen = sum(d.amount_fen for d in deposits)
    if (credited_with.opening_fen, credited_with.deposits_fen) != (opening_fen, deposits_fen):
        raise BadInput(
            "credited_with",
            f"was credited on opening {credited_with.opening_fen} and deposits "
            f"{credited_with.deposits_fen} fen, not {opening_fen} and {deposits_fen}",
        )
    now = credit_year(
        year, opening_fen, deposits, policy, known_at=known_at, variant=credited_with.variant
    )
    return now.interest_fen - credited_with.interest_fen
