"""The schema of the dated policy files: one record type per parameter path.

A policy file is TOML. Each parameter is an array of tables at a dotted path
(``[[pension.base]]``); each table is one *record*: a set of values in force from
``effective`` on, known from ``published`` on (a base announced late is still effective
from the start of its year, but the ledger could not have known it before publication),
taken from ``source``. ``status`` says whether the figure is ``official``, ``derived``
(then ``note`` must say how), ``provisional`` (to be superseded by a later record with
the same ``effective`` date and a later ``published`` one) or ``unverified`` (recalled or
taken from a reprint, the notice itself not seen: ``note`` says what to verify).
``variant`` marks a record that is kept reachable where sources disagree, but is not the
default.

Money is written in yuan as strings under keys ending ``_yuan`` and held in fen under the
same name ending ``_fen``; rates are strings (``"0.20"``) held as ``Decimal``. A float in
a policy file is refused: floats never touch money.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ledger.domain.policy.record import Rate, Record

# ---------------------------------------------------------------- employee pension


class PensionBase(Record):
    """Floor and ceiling of the pension base (60% and 300% of the average wage)."""

    path: ClassVar[str] = "pension.base"
    scope: ClassVar[Literal["region", "national", "both"]] = "region"

    floor_fen: int = Field(gt=0)
    ceiling_fen: int = Field(gt=0)
    average_wage_fen: int | None = Field(default=None, gt=0)
    grades_percent: list[int] | None = None

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> PensionBase:
        if self.floor_fen > self.ceiling_fen:
            raise ValueError(
                f"floor {self.floor_fen / 100:.2f} is above ceiling {self.ceiling_fen / 100:.2f}"
            )
        if self.grades_percent is not None and sorted(set(self.grades_percent)) != list(
            self.grades_percent
        ):
            raise ValueError("grades_percent must be strictly increasing")
        return self


class PensionRate(Record):
    """Contribution rate on the base, and the part of it that goes to the personal account."""

    path: ClassVar[str] = "pension.rate"

    total_rate: Rate
    personal_rate: Rate

    @model_validator(mode="after")
    def _personal_within_total(self) -> PensionRate:
        if self.personal_rate > self.total_rate:
            raise ValueError(
                f"personal_rate {self.personal_rate} exceeds total_rate {self.total_rate}"
            )
        return self


class PensionCalculationBase(Record):
    """The local pension calculation base (计发基数), yuan per month, for estimates."""

    path: ClassVar[str] = "pension.calculation_base"
    scope: ClassVar[Literal["region", "national", "both"]] = "region"

    monthly_fen: int = Field(gt=0)


class PensionIncrease(Record):
    """The yearly increase of pensions in payment (调整退休人员基本养老金), from ``effective``.

    ``rate`` applies to the pension in payment in the December before ``effective``, for
    members retired before ``effective``; the increase is paid by the pooling fund.
    """

    path: ClassVar[str] = "pension.increase"
    scope: ClassVar[Literal["region", "national", "both"]] = "national"

    rate: Rate


class LifeTable(Record):
    """One-year death probabilities q(x) by sex (``male_qx``, ``female_qx``), one per year
    of age from ``from_age``; the last is repeated up to ``max_age``, which nobody
    outlives (q = 1 there). Ages below ``from_age`` take its figure. The simulation's
    deaths and ``flexledger compare``'s survival both read it."""

    path: ClassVar[str] = "mortality.life_table"
    scope: ClassVar[Literal["region", "national", "both"]] = "national"

    from_age: int = Field(ge=0, le=120)
    max_age: int = Field(ge=60, le=130)
    male_qx: list[Rate] = Field(min_length=1)
    female_qx: list[Rate] = Field(min_length=1)

    @model_validator(mode="after")
    def _within_max_age(self) -> LifeTable:
        for name in ("male_qx", "female_qx"):
            if self.from_age + len(getattr(self, name)) > self.max_age:
                raise ValueError(f"{name} runs past max_age {self.max_age}")
        return self

    def q(self, sex: str, age_years: int) -> Decimal:
        """q(age) for ``"male"`` or ``"female"``: the chance of dying within the year."""
        if age_years >= self.max_age:
            return Decimal(1)
        qx = self.male_qx if sex == "male" else self.female_qx
        return qx[min(max(age_years - self.from_age, 0), len(qx) - 1)]


class MinimumMonths(Record):
    """Minimum contribution months for a pension, by the year of retirement."""

    path: ClassVar[str] = "pension.minimum_months"

    months: int = Field(gt=0, le=600)


class Divisor(Record):
    """Months divisor of the personal-account pension by age at retirement (国发〔2005〕38号)."""

    path: ClassVar[str] = "pension.divisor"

    months_by_age: dict[int, int]
    interpolate_months: bool = False

    @model_validator(mode="after")
    def _ages_contiguous(self) -> Divisor:
        ages = sorted(self.months_by_age)
        if not ages or ages != list(range(ages[0], ages[-1] + 1)):
            raise ValueError("months_by_age must cover a contiguous range of ages")
        months = [self.months_by_age[a] for a in ages]
        if any(b >= a for a, b in pairwise(months)):
            raise ValueError("divisor months must fall as age rises")
        return self


class RetirementRule(Record):
    """Statutory retirement age for one category under the 2024 gradual reform.

    Members born before ``first_cohort`` retire at ``original_age_months``; from that
    cohort on, every ``step_birth_months`` of birth adds one month, up to
    ``target_age_months``.
    """

    scope: ClassVar[Literal["region", "national", "both"]] = "national"

    original_age_months: int = Field(gt=0)
    target_age_months: int = Field(gt=0)
    step_birth_months: int = Field(gt=0)
    first_cohort: str = Field(pattern=r"^\d{4}-\d{2}$")

    @model_validator(mode="after")
    def _target_after_original(self) -> RetirementRule:
        if self.target_age_months < self.original_age_months:
            raise ValueError("target_age_months is below original_age_months")
        return self


class RetirementMale(RetirementRule):
    path: ClassVar[str] = "retirement.male"


class RetirementFemale55(RetirementRule):
    path: ClassVar[str] = "retirement.female_55"


class RetirementFemale50(RetirementRule):
    path: ClassVar[str] = "retirement.female_50"


# ---------------------------------------------------------------- employee medical


class MedicalContribution(Record):
    """Employee medical insurance for flexible employees: a rate on a base, or a fixed sum.

    ``base = "pension"`` takes the pension base range; ``base = "own"`` gives the medical
    base's own floor and ceiling here (Guangzhou uses the average two years earlier).
    ``personal_rate`` is the share of the base that reaches a personal account (0 where the
    city keeps none for flexible employees).
    """

    path: ClassVar[str] = "medical.contribution"
    scope: ClassVar[Literal["region", "national", "both"]] = "region"

    method: Literal["rate", "fixed"]
    rate: Rate | None = None
    fixed_monthly_fen: int | None = Field(default=None, gt=0)
    personal_rate: Rate = Decimal(0)
    base: Literal["pension", "own"] = "pension"
    floor_fen: int | None = Field(default=None, gt=0)
    ceiling_fen: int | None = Field(default=None, gt=0)
    average_wage_fen: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _method_has_its_values(self) -> MedicalContribution:
        if self.method == "rate" and self.rate is None:
            raise ValueError("method 'rate' needs rate")
        if self.method == "fixed" and self.fixed_monthly_fen is None:
            raise ValueError("method 'fixed' needs fixed_monthly_yuan")
        if self.method == "rate" and self.rate is not None and self.personal_rate > self.rate:
            raise ValueError(f"personal_rate {self.personal_rate} exceeds rate {self.rate}")
        if self.base == "own" and self.method == "rate":
            if self.floor_fen is None or self.ceiling_fen is None:
                raise ValueError("base 'own' needs floor_yuan and ceiling_yuan")
            if self.floor_fen > self.ceiling_fen:
                raise ValueError("medical floor is above its ceiling")
        return self


class MedicalGap(Record):
    """Medical cover gaps: back-payable months with cover restored, and the waiting period."""

    path: ClassVar[str] = "medical.gap"

    restore_within_months: int = Field(ge=0)
    waiting_period_months: int = Field(ge=0)


# ---------------------------------------------------------------- residents' schemes


class ResidentPension(Record):
    """Residents' pension: yearly grades in yuan and the government subsidy by grade.

    ``subsidy_from_grade_fen[i]`` is the lowest grade that earns ``subsidy_fen[i]``.
    """

    path: ClassVar[str] = "resident.pension"

    grades_fen: list[int]
    subsidy_from_grade_fen: list[int]
    subsidy_fen: list[int]

    @model_validator(mode="after")
    def _grades_and_subsidies(self) -> ResidentPension:
        if not self.grades_fen or sorted(set(self.grades_fen)) != self.grades_fen:
            raise ValueError("grades_yuan must be non-empty and strictly increasing")
        if len(self.subsidy_from_grade_fen) != len(self.subsidy_fen):
            raise ValueError("subsidy_from_grade_yuan and subsidy_yuan differ in length")
        if sorted(self.subsidy_from_grade_fen) != self.subsidy_from_grade_fen:
            raise ValueError("subsidy_from_grade_yuan must be increasing")
        if not self.subsidy_from_grade_fen or self.subsidy_from_grade_fen[0] > self.grades_fen[0]:
            raise ValueError("the lowest grade must earn a subsidy")
        return self

    def subsidy_for(self, grade_fen: int) -> int:
        earned = 0
        for threshold, subsidy in zip(self.subsidy_from_grade_fen, self.subsidy_fen, strict=True):
            if grade_fen >= threshold:
                earned = subsidy
        return earned


class ResidentPensionBenefit(Record):
    """Residents' pension benefit: national minimum basic pension and the divisor."""

    path: ClassVar[str] = "resident.pension_benefit"

    basic_minimum_monthly_fen: int = Field(gt=0)
    divisor_months: int = Field(gt=0)
    minimum_years: int = Field(gt=0)
    pension_age_years: int = Field(gt=0)


class ResidentMedical(Record):
    """Residents' medical insurance: the individual's yearly contribution and the subsidy."""

    path: ClassVar[str] = "resident.medical"

    individual_fen: int = Field(gt=0)
    subsidy_fen: int = Field(ge=0)


# ---------------------------------------------------------------- interest


class InterestRate(Record):
    """The national personal-account crediting rate (记账利率) for one calendar year."""

    path: ClassVar[str] = "interest.rate"
    scope: ClassVar[Literal["region", "national", "both"]] = "national"

    year: int = Field(ge=1990, le=2200)
    rate: Rate

    @model_validator(mode="after")
    def _effective_is_the_year(self) -> InterestRate:
        if self.effective != date(self.year, 1, 1):
            raise ValueError(f"effective must be {self.year}-01-01 for the {self.year} rate")
        return self


class InterestMethod(Record):
    """How money held part of a year earns interest.

    ``months-held``: months held × rate / 12 (Zhengzhou rule);
    ``half-year-1.083``: the year's contributions earn rate × 1.083 × ½ (1997 national rule).
    """

    path: ClassVar[str] = "interest.method"

    method: Literal["months-held", "half-year-1.083"]


# ---------------------------------------------------------------- payment and transfers


class BackPayment(Record):
    """How long a missed month may still be paid: within its calendar year, or not at all."""

    path: ClassVar[str] = "payment.back_payment"

    window: Literal["calendar-year", "none"]


class LateFee(Record):
    """Late fee per day on arrears (万分之五 = 0.0005)."""

    path: ClassVar[str] = "payment.late_fee"

    daily_rate: Rate


class Frequencies(Record):
    """Payment frequencies a region allows flexible employees."""

    path: ClassVar[str] = "payment.frequencies"

    allowed: list[Literal["monthly", "quarterly", "half-yearly", "annual"]]
    catch_up_adds_years: bool = True


class BankAgreement(Record):
    """Three-party withholding agreements: months from signing to the first deduction."""

    path: ClassVar[str] = "payment.bank_agreement"

    takes_effect_after_months: int = Field(ge=0, le=12)


class AffiliateFee(Record):
    """A human-resources company's monthly affiliate fee: its revenue, never a contribution."""

    path: ClassVar[str] = "affiliate.fee"

    monthly_fen: int = Field(ge=0)


class TransferPooling(Record):
    """On transfer, this share of each year's actual base since ``counted_from`` moves."""

    path: ClassVar[str] = "transfer.pooling"

    share_rate: Rate
    counted_from: date


class TransferTemporaryAccount(Record):
    """Ages from which enrolling outside the hukou province opens a temporary account."""

    path: ClassVar[str] = "transfer.temporary_account"

    male_from_age: int = Field(gt=0)
    female_from_age: int = Field(gt=0)
    settle_min_years: int = Field(gt=0)


RECORD_TYPES: dict[str, type[Record]] = {
    cls.path: cls
    for cls in (
        PensionBase,
        PensionRate,
        PensionCalculationBase,
        PensionIncrease,
        LifeTable,
        MinimumMonths,
        Divisor,
        RetirementMale,
        RetirementFemale55,
        RetirementFemale50,
        MedicalContribution,
        MedicalGap,
        ResidentPension,
        ResidentPensionBenefit,
        ResidentMedical,
        InterestRate,
        InterestMethod,
        BackPayment,
        LateFee,
        Frequencies,
        BankAgreement,
        AffiliateFee,
        TransferPooling,
        TransferTemporaryAccount,
    )
}
