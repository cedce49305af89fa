"""What a simulated population does, as a TOML scenario with realistic defaults.

Every probability is a decimal string (``"0.03"``) and every weight an integer; the
simulation draws from them with per-member random streams seeded from the run's seed,
so the same scenario and seed give the same ledger entry for entry.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from ledger.domain.errors import BadInput
from ledger.domain.policy.records import LifeTable


def _probability(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError('write probabilities as strings ("0.03"), not floats')
    result = Decimal(str(value))
    if not Decimal(0) <= result <= Decimal(1):
        raise ValueError(f"{value!r} is not a probability between 0 and 1")
    return result


Probability = Annotated[Decimal, BeforeValidator(_probability)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Population(_Section):
    """Who the members are."""

    birth_years: tuple[int, int] = (1968, 2002)
    female_share: Probability = Decimal("0.45")
    #: region code → weight; members insure where they live, hukou there too unless moved.
    regions: dict[str, int] = Field(
        default_factory=lambda: {"110000": 3, "310000": 3, "120000": 1, "440100": 2, "440300": 2}
    )
    #: share choosing the residents' schemes (paid at the hukou place) over employee ones.
    resident_share: Probability = Decimal("0.10")
    #: share of employee-scheme members also paying employee medical insurance.
    medical_share: Probability = Decimal("0.70")
    #: women insured as flexible employees retire at 55 unless listed here as 50.
    female_50_share: Probability = Decimal("0.0")

    @model_validator(mode="after")
    def _sane(self) -> Population:
        low, high = self.birth_years
        if low > high:
            raise ValueError("birth_years: first year is after the last")
        if not self.regions or any(w < 0 for w in self.regions.values()):
            raise ValueError("regions: give at least one region with a non-negative weight")
        return self


class Base(_Section):
    """Which base members choose, as percent of the average wage → weight."""

    percents: dict[str, int] = Field(
        default_factory=lambda: {"60": 60, "80": 8, "100": 20, "150": 6, "200": 3, "300": 3}
    )
    #: chance each July that a member picks a new base percent.
    change_per_year: Probability = Decimal("0.08")
    #: residents' pension grade (yuan a year) → weight.
    resident_grades: dict[str, int] = Field(
        default_factory=lambda: {"100": 20, "300": 20, "500": 30, "1000": 20, "2000": 10}
    )


class Payment(_Section):
    """How members pay, and how often they slip."""

    methods: dict[str, int] = Field(
        default_factory=lambda: {"monthly": 50, "bank": 35, "agency": 15}
    )
    agencies: tuple[str, ...] = ("acme-hr", "hengda-hr", "xinyu-hr")
    #: chance a monthly payer misses a month.
    miss_month: Probability = Decimal("0.04")
    #: chance a missed month is paid back in December, inside the window.
    back_pay: Probability = Decimal("0.5")
    #: chance the bank refuses a member's batch (insufficient funds, closed account).
    bank_failure: Probability = Decimal("0.03")


class Moves(_Section):
    """Moves between regions, with transfers of the insurance."""

    per_year: Probability = Decimal("0.02")


class Interest(_Section):
    """Personal-account interest for years the policy files have no rate for yet."""

    #: assumed crediting rate for projected years (the latest provisional rate, 2026).
    assumed_rate: Probability = Decimal("0.026")


class Benefits(_Section):
    """Retirement and death: what members short of the minimum choose, and mortality.

    Mortality (``mortality = "policy"``, the default) is the dated ``mortality.life_table``
    of the policy files (ledger/domain/policy/data/national.toml, with its source and status), the
    table ``flexledger compare`` uses too: a member of age x dies in a month with chance
    q(x) / 12. ``mortality = "gompertz"`` keeps the older law, ``q(age) = q50 ×
    2^((age − 50) / doubling_years)`` a year (capped at 1): ``male_q50`` is the CL1
    (2010–2013) non-annuity rate for men of 50, 0.4249% (中国人身保险业经验生命表
    （2010-2013）, as quoted by Xinhua, 2017-03-02); the female rate and the doubling time
    are assumptions (status: unverified, see ``mortality_note``).
    """

    #: what a member short of the minimum months at retirement chooses (the ledger's
    #: ``flexledger retire --short``); paying on is not simulated: enrolments end.
    short_choice: str = "refund"
    mortality: Literal["policy", "gompertz"] = "policy"
    male_q50: Probability = Decimal("0.004249")
    female_q50: Probability = Decimal("0.0021")
    doubling_years: int = Field(default=8, ge=1, le=30)
    mortality_source: str = (
        "male q50: 中国人身保险业经验生命表（2010-2013）CL1, quoted by Xinhua 2017-03-02; "
        "Gompertz law"
    )
    mortality_note: str = (
        "unverified: the female rate at 50 (about half the male) and the doubling every "
        "8 years of age are assumptions, not read from a table; replace with the national "
        "life table"
    )

    @model_validator(mode="after")
    def _choice(self) -> Benefits:
        if self.short_choice not in ("refund", "resident"):
            raise ValueError("short_choice: 'refund' or 'resident'")
        return self

    def monthly_death(self, age_years: int, sex: str, table: LifeTable | None = None) -> Decimal:
        """The chance of dying within a month at ``age_years`` (exact decimals): the life
        ``table``'s q(x) / 12 (``mortality = "policy"``), else the Gompertz law."""
        if self.mortality == "policy":
            if table is None:
                raise ValueError("mortality 'policy' needs the policy's mortality.life_table")
            return table.q(sex, age_years) / 12
        q50 = self.male_q50 if sex == "male" else self.female_q50
        yearly = q50 * Decimal(2) ** (Decimal(age_years - 50) / Decimal(self.doubling_years))
        return min(Decimal(1), yearly) / 12


class Scenario(_Section):
    population: Population = Population()
    base: Base = Base()
    payment: Payment = Payment()
    moves: Moves = Moves()
    interest: Interest = Interest()
    benefits: Benefits = Benefits()

    @classmethod
    def load(cls, path: Path | str | None) -> Scenario:
        """The defaults, or a TOML file overriding any of them; errors name the key."""
        if path is None:
            return cls()
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise BadInput("scenario", f"{path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise BadInput(
                "scenario", f"{path}: byte {exc.start} is not UTF-8 (a TOML file is UTF-8 text)"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise BadInput("scenario", f"{path}: {exc}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BadInput("scenario", f"{path}: {where}: {first['msg']}") from None
