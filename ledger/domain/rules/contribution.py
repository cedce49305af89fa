"""Assessing one period's contribution: base, total, personal share, pooling share.

Invariants of every ``Assessment``:
- all amounts are integer fen, each rounded once by ``money.round_half_up``;
- ``personal_fen + pooling_fen == total_fen + subsidy_fen``: what the member pays plus any
  government subsidy is all credited, to the personal account or the pooling fund, so the
  entry posted from it balances;
- the personal share is computed on the base and rounded; the pooling share is the rest
  (Beijing floor 7,162 × 20% = 1,432.40; × 8% = 572.96 personal; 859.44 pooling).

A base chosen as a percent of the average wage is rounded half up to the whole yuan, as
published floors and ceilings are (11,937 × 60% = 7,162.2 → 7,162); every base, however
chosen, must lie between the floor and the ceiling in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from ledger.domain.errors import BadInput, BaseOutsideRange, GradeNotOffered
from ledger.domain.money import FEN_PER_YUAN, apply_rate, format_yuan, parse_yuan, round_half_up
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.policy.records import (
    MedicalContribution,
    PensionBase,
    PensionRate,
    ResidentMedical,
    ResidentPension,
)
from ledger.domain.schemes import Scheme


@dataclass(frozen=True, slots=True)
class BaseChoice:
    """How a member chooses a base: a percent of the average wage, an amount, or a grade.

    Exactly one is set. A grade is a percent for employee schemes in regions with fixed
    grades, and a yearly amount in yuan for the residents' pension.
    """

    percent: Decimal | None = None
    amount_fen: int | None = None
    grade: str | None = None

    def __post_init__(self) -> None:
        given = sum(v is not None for v in (self.percent, self.amount_fen, self.grade))
        if given > 1:
            raise BadInput("base", "give one of --base-percent, --base or --grade, not several")
        if self.percent is not None and not Decimal(0) < self.percent <= Decimal(1000):
            raise BadInput("base_percent", f"{self.percent} is not a percent above 0")
        if self.amount_fen is not None and self.amount_fen <= 0:
            raise BadInput("base", "a base must be a positive amount")

    @classmethod
    def of(
        cls, percent: str | None = None, amount: str | None = None, grade: str | None = None
    ) -> BaseChoice:
        """Build from command-line strings, naming the field that is wrong."""
        pct: Decimal | None = None
        if percent is not None:
            try:
                pct = Decimal(str(percent).strip().removesuffix("%"))
            except ArithmeticError:
                raise BadInput("base_percent", f"{percent!r} is not a number") from None
            if not pct.is_finite():
                raise BadInput("base_percent", f"{percent!r} is not a number")
        fen = parse_yuan(amount, "base") if amount is not None else None
        return cls(percent=pct, amount_fen=fen, grade=grade)

    @property
    def is_empty(self) -> bool:
        return self.percent is None and self.amount_fen is None and self.grade is None


@dataclass(frozen=True, slots=True)
class Assessment:
    """One period's contribution for one member, scheme and region, in fen."""

    scheme: Scheme
    region: str
    period: Month
    base_fen: int | None
    total_fen: int
    personal_fen: int
    pooling_fen: int
    subsidy_fen: int = 0
    rate: Decimal | None = None
    personal_rate: Decimal | None = None
    floor_fen: int | None = None
    ceiling_fen: int | None = None
    sources: tuple[str, ...] = field(default=())
    provisional: bool = False

    def as_json(self) -> dict[str, object]:
        def yuan(v: int | None) -> str | None:
            return None if v is None else format_yuan(v)

        return {
            "scheme": self.scheme.value,
            "region": self.region,
            "period": str(self.period),
            "base": yuan(self.base_fen),
            "total": yuan(self.total_fen),
            "personal": yuan(self.personal_fen),
            "pooling": yuan(self.pooling_fen),
            "subsidy": yuan(self.subsidy_fen),
            "rate": None if self.rate is None else str(self.rate),
            "personal_rate": None if self.personal_rate is None else str(self.personal_rate),
            "floor": yuan(self.floor_fen),
            "ceiling": yuan(self.ceiling_fen),
            "sources": list(self.sources),
        }


def _base_from_choice(
    choice: BaseChoice,
    *,
    floor_fen: int,
    ceiling_fen: int,
    average_wage_fen: int | None,
    grades_percent: list[int] | None,
    what: str,
) -> int:
    """Resolve a choice to a base in fen and check it against floor and ceiling."""
    if choice.is_empty:
        raise BadInput("base", f"choose a {what} base: --base-percent, --base or --grade")
    percent = choice.percent
    if choice.grade is not None:
        try:
            percent = Decimal(choice.grade.strip().removesuffix("%"))
        except ArithmeticError:
            raise GradeNotOffered("grade", f"{choice.grade!r} is not a grade") from None
    if grades_percent is not None and percent is not None and percent not in grades_percent:
        offered = ", ".join(f"{g}%" for g in grades_percent)
        raise GradeNotOffered("grade", f"{percent}% is not offered here ({offered})")
    if grades_percent is not None and choice.amount_fen is not None:
        raise GradeNotOffered("base", "this region offers fixed grades only: use --grade")
    if percent is not None:
        # Without a published average wage, the ceiling is by definition 300% of it.
        average = Fraction(average_wage_fen) if average_wage_fen else Fraction(ceiling_fen, 3)
        base = round_half_up(average * Fraction(percent) / 100, unit_fen=FEN_PER_YUAN)
    else:
        assert choice.amount_fen is not None
        base = choice.amount_fen
    if not floor_fen <= base <= ceiling_fen:
        raise BaseOutsideRange(
            "base",
            f"{format_yuan(base)} is outside the {what} range "
            f"{format_yuan(floor_fen)} (floor) to {format_yuan(ceiling_fen)} (ceiling)",
        )
    return base


def assess(
    policy: PolicySet,
    region: str,
    scheme: Scheme,
    period: Month,
    choice: BaseChoice,
    known_at: datetime | date | None = None,
) -> Assessment:
    """The contribution for ``period`` under the policy in force then, as known at ``known_at``.

    For residents' schemes the period is the year's payment (any month of it) and the
    amounts are yearly.
    """
    policy.region(region)
    on = period.first_day
    if scheme is Scheme.PENSION:
        return _assess_pension(policy, region, period, choice, known_at)
    if scheme is Scheme.MEDICAL:
        return _assess_medical(policy, region, period, choice, known_at)
    if scheme is Scheme.RESIDENT_PENSION:
        record = policy.at(ResidentPension, on, region, known_at)
        if choice.grade is None and choice.amount_fen is None:
            raise BadInput("grade", "the residents' pension is paid by yearly grade: use --grade")
        grade_fen = (
            parse_yuan(choice.grade, "grade") if choice.grade is not None else choice.amount_fen
        )
        assert grade_fen is not None
        if grade_fen not in record.grades_fen:
            offered = ", ".join(format_yuan(g) for g in record.grades_fen)
            raise GradeNotOffered("grade", f"{format_yuan(grade_fen)} is not a grade ({offered})")
        subsidy = record.subsidy_for(grade_fen)
        return Assessment(
            scheme,
            region,
            period,
            grade_fen,
            grade_fen,
            grade_fen + subsidy,
            0,
            subsidy,
            sources=(record.source,),
        )
    record_m = policy.at(ResidentMedical, on, region, known_at)
    total = record_m.individual_fen
    return Assessment(
        scheme,
        region,
        period,
        None,
        total,
        0,
        total + record_m.subsidy_fen,
        record_m.subsidy_fen,
        sources=(record_m.source,),
    )


def _assess_pension(
    policy: PolicySet,
    region: str,
    period: Month,
    choice: BaseChoice,
    known_at: datetime | date | None,
) -> Assessment:
    on = period.first_day
    base_rec = policy.at(PensionBase, on, region, known_at)
    rate_rec = policy.at(PensionRate, on, region, known_at)
    base = _base_from_choice(
        choice,
        floor_fen=base_rec.floor_fen,
        ceiling_fen=base_rec.ceiling_fen,
        average_wage_fen=base_rec.average_wage_fen,
        grades_percent=base_rec.grades_percent,
        what="pension",
    )
    total = apply_rate(base, rate_rec.total_rate)
    personal = apply_rate(base, rate_rec.personal_rate)
    return Assessment(
        Scheme.PENSION,
        region,
        period,
        base,
        total,
        personal,
        total - personal,
        rate=rate_rec.total_rate,
        personal_rate=rate_rec.personal_rate,
        floor_fen=base_rec.floor_fen,
        ceiling_fen=base_rec.ceiling_fen,
        sources=(base_rec.source, rate_rec.source),
        provisional=base_rec.status == "provisional",
    )


def _assess_medical(
    policy: PolicySet,
    region: str,
    period: Month,
    choice: BaseChoice,
    known_at: datetime | date | None,
) -> Assessment:
    on = period.first_day
    rec = policy.at(MedicalContribution, on, region, known_at)
    if rec.method == "fixed":
        assert rec.fixed_monthly_fen is not None
        total = rec.fixed_monthly_fen
        return Assessment(
            Scheme.MEDICAL,
            region,
            period,
            None,
            total,
            0,
            total,
            sources=(rec.source,),
            provisional=rec.status == "provisional",
        )
    assert rec.rate is not None
    if rec.base == "own":
        assert rec.floor_fen is not None and rec.ceiling_fen is not None
        floor, ceiling, average, grades = (
            rec.floor_fen,
            rec.ceiling_fen,
            rec.average_wage_fen,
            None,
        )
        sources: tuple[str, ...] = (rec.source,)
    else:
        base_rec = policy.at(PensionBase, on, region, known_at)
        floor, ceiling, average, grades = (
            base_rec.floor_fen,
            base_rec.ceiling_fen,
            base_rec.average_wage_fen,
            base_rec.grades_percent,
        )
        sources = (rec.source, base_rec.source)
    base = _base_from_choice(
        choice,
        floor_fen=floor,
        ceiling_fen=ceiling,
        average_wage_fen=average,
        grades_percent=grades,
        what="medical",
    )
    total = apply_rate(base, rec.rate)
    personal = apply_rate(base, rec.personal_rate)
    return Assessment(
        Scheme.MEDICAL,
        region,
        period,
        base,
        total,
        personal,
        total - personal,
        rate=rec.rate,
        personal_rate=rec.personal_rate,
        floor_fen=floor,
        ceiling_fen=ceiling,
        sources=sources,
        provisional=rec.status == "provisional",
    )
