"""Employee-pension transfers between regions (国办发〔2009〕66号, in force 2010-01-01).

Units and invariants:
- every amount is an ``int`` in fen; the share rate, its start date and the ten-year and age
  thresholds are read from the policy (``transfer.pooling``, ``transfer.temporary_account``),
  never literals here;
- the whole personal-account balance moves (66号 Art. 4 (1));
- pooling money moved = share_rate (12%) of each calendar year's actual bases since
  ``counted_from`` (1998-01-01), part years by their actual months (66号 Art. 4 (2)),
  rounded once per year by ``ledger.domain.money.round_half_up``;
- ``pooling_moved_fen + pooling_stays_fen == pooling_paid_fen``; the 12% moves whatever
  the member's months paid into pooling, because the rule is a share of the *base*: where
  less was paid in (before 2006 a flexible employee's personal account took 11% of 20%,
  leaving 9%), ``pooling_stays_fen`` is negative and the source fund bears the difference;
- months before ``counted_from`` move no pooling money but still count as months paid;
- places are compared at the province level (first two digits of the GB/T 2260 code +
  ``"0000"``): 66号 governs moves across provinces (跨省流动就业), its 参保地 and 户籍所在地
  being provincial pooling areas.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from ledger.domain.errors import BadInput
from ledger.domain.money import round_half_up
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.policy.records import TransferPooling, TransferTemporaryAccount

_MONTHS_PER_YEAR = 12
_SEXES = {
    "male": "male",
    "m": "male",
    "男": "male",
    "female": "female",
    "f": "female",
    "女": "female",
}


@dataclass(frozen=True, slots=True)
class PaidMonth:
    """An employee-pension month paid in ``region``: its base and the pooling money it paid."""

    month: Month
    region: str
    base_fen: int
    pooling_fen: int


@dataclass(frozen=True, slots=True)
class TransferYear:
    """One calendar year of the pooling transfer: ``moved_fen = share × base_total_fen``."""

    year: int
    months: int
    base_total_fen: int
    moved_fen: int
    pooling_paid_fen: int


@dataclass(frozen=True, slots=True)
class TransferOut:
    """What leaves ``from_region`` on ``on``.

    ``months`` counts every month paid there (before ``counted_from`` too); ``years`` holds
    only the years since ``counted_from``, whose sums are the pooling figures.
    """

    from_region: str
    on: date
    personal_fen: int
    months: int
    pooling_paid_fen: int
    pooling_moved_fen: int
    pooling_stays_fen: int
    years: tuple[TransferYear, ...]
    share_rate: Decimal
    counted_from: date
    source: str


@dataclass(frozen=True, slots=True)
class Stint:
    """Months paid in ``region`` in one spell; stints are listed in chronological order."""

    region: str
    months: int


@dataclass(frozen=True, slots=True)
class PensionPlace:
    """Where the pension is paid: the region code, which rule of 66号 Art. 6 (1–4), and why."""

    region: str
    rule: int
    reason: str


def province_of(region: str, field: str = "region") -> str:
    """The province of a 6-digit GB/T 2260 region code: ``"440300"`` → ``"440000"``."""
    if not (isinstance(region, str) and len(region) == 6 and region.isdigit()):
        raise BadInput(field, f"{region!r} is not a 6-digit GB/T 2260 region code")
    return region[:2] + "0000"


def transfer_out(
    paid: Sequence[PaidMonth],
    from_region: str,
    personal_balance_fen: int,
    on: date,
    policy: PolicySet,
) -> TransferOut:
    """The money that leaves ``from_region`` on ``on`` (国办发〔2009〕66号 Art. 4).

    The personal balance moves whole. Pooling: share_rate of the sum of each year's monthly
    bases paid in ``from_region`` since ``counted_from``, rounded per year; the rest of the
    pooling money those months paid stays. Months paid in other regions are ignored.
    Raises ``BadInput`` for a negative balance, a month paid twice in ``from_region``, a
    month after ``on``, or pooling paid below what must move.
    """
    province_of(from_region, "from_region")
    if personal_balance_fen < 0:
        raise BadInput("personal_balance_fen", f"{personal_balance_fen} is negative")
    rule = policy.at(TransferPooling, on)
    first_counted = Month.of(rule.counted_from)
    here = [p for p in paid if p.region == from_region]
    _check_months(here, on)

    by_year: dict[int, list[PaidMonth]] = {}
    for month in sorted(here, key=lambda p: p.month):
        if month.month >= first_counted:
            by_year.setdefault(month.month.year, []).append(month)
    years = tuple(_year(year, months, rule.share_rate) for year, months in by_year.items())

    paid_fen = sum(y.pooling_paid_fen for y in years)
    moved_fen = sum(y.moved_fen for y in years)
    return TransferOut(
        from_region=from_region,
        on=on,
        personal_fen=personal_balance_fen,
        months=len(here),
        pooling_paid_fen=paid_fen,
        pooling_moved_fen=moved_fen,
        pooling_stays_fen=paid_fen - moved_fen,
        years=years,
        share_rate=rule.share_rate,
        counted_from=rule.counted_from,
        source=rule.source,
    )


def _check_months(here: Sequence[PaidMonth], on: date) -> None:
    last = Month.of(on)
    for month in here:
        if month.month > last:
            raise BadInput("paid", f"{month.month} is after the transfer date {on}")
        if month.base_fen <= 0 or month.pooling_fen < 0:
            raise BadInput("paid", f"{month.month}: base must be positive, pooling not negative")
    twice = [m for m, n in Counter(p.month for p in here).items() if n > 1]
    if twice:
        raise BadInput("paid", f"{min(twice)} is paid twice in {here[0].region}")


def _year(year: int, months: Sequence[PaidMonth], share_rate: Decimal) -> TransferYear:
    base_total_fen = sum(m.base_fen for m in months)
    return TransferYear(
        year=year,
        months=len(months),
        base_total_fen=base_total_fen,
        moved_fen=round_half_up(base_total_fen * Fraction(share_rate)),
        pooling_paid_fen=sum(m.pooling_fen for m in months),
    )


def needs_temporary_account(
    sex: str,
    age_years: int,
    hukou_region: str,
    new_region: str,
    policy: PolicySet,
    on: date | None = None,
) -> bool:
    """Whether enrolling in ``new_region`` opens a temporary account (临时基本养老保险缴费账户).

    国办发〔2009〕66号 Art. 5 (2): men from 50 and women from 40 (ages from the policy) who
    enrol outside their hukou province keep the relationship where it was and open a
    temporary account in the new place. Returning to the hukou province, or moving within
    one province, never does. (Transfers approved by a Party organisation or HR department
    are exempt; the caller decides that.) ``on``: the rule in force that day, else the
    latest in the files.
    """
    rule = policy.at(TransferTemporaryAccount, on or date.max)
    kind = _SEXES.get(sex.strip().lower()) if isinstance(sex, str) else None
    if kind is None:
        raise BadInput("sex", f"{sex!r} is not male or female")
    if age_years < 0:
        raise BadInput("age_years", f"{age_years} is negative")
    if province_of(new_region, "new_region") == province_of(hukou_region, "hukou_region"):
        return False
    return age_years >= (rule.male_from_age if kind == "male" else rule.female_from_age)


def pension_place(
    hukou_region: str,
    stints: Sequence[Stint],
    policy: PolicySet,
    on: date | None = None,
) -> PensionPlace:
    """Where the pension is finally paid (国办发〔2009〕66号 Art. 6).

    ``stints`` in chronological order; the last is where the relationship is now. Years are
    cumulative per province over all stints there, against ``settle_min_years`` (10):
    (1) the hukou place if the relationship is there; (2) else the current place if it has
    10 years; (3) else the last earlier place with 10 years; (4) else the hukou place.
    Returns the region code of the stint chosen (its latest stint in that province), or
    ``hukou_region`` under rule 4.
    """
    if not stints:
        raise BadInput("stints", "at least one stint (the current relationship) is needed")
    for stint in stints:
        province_of(stint.region, "stints")
        if stint.months < 0:
            raise BadInput("stints", f"{stint.region}: months {stint.months} is negative")
    rule = policy.at(TransferTemporaryAccount, on or date.max)
    minimum = rule.settle_min_years * _MONTHS_PER_YEAR
    hukou = province_of(hukou_region, "hukou_region")
    months_in: Counter[str] = Counter()
    for stint in stints:
        months_in[province_of(stint.region)] += stint.months

    current = stints[-1]
    here = province_of(current.region)
    if here == hukou:
        return PensionPlace(current.region, 1, "the relationship is in the hukou province")
    if months_in[here] >= minimum:
        return PensionPlace(
            current.region,
            2,
            f"the relationship's province has {months_in[here]} months (≥ {minimum})",
        )
    for earlier in reversed(stints[:-1]):
        province = province_of(earlier.region)
        if months_in[province] >= minimum:
            return PensionPlace(
                earlier.region,
                3,
                f"the current province has {months_in[here]} months (< {minimum}); the last "
                f"earlier province with ≥ {minimum} has {months_in[province]}",
            )
    return PensionPlace(
        hukou_region, 4, f"no province has {minimum} months: back to the hukou province"
    )
