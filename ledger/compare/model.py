"""What a comparison is about: the person (``Person``), one way of paying (``Way``), what
that way buys them (``Outcome``), and the facts every projection of that person shares
(``Context``). Plain frozen records; ``projection`` computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from ledger.compare.measures import (
    Flow,
)
from ledger.compare.scenario import CompareScenario
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.rules.pension import (
    Category,
    Retirement,
)


@dataclass(frozen=True, slots=True)
class Person:
    """Who is comparing: from a citizen ID (and options) or a member's ledger history.

    ``paid_indices`` (one per month already paid, each base ÷ that year's average wage)
    and ``balance_fen`` (the personal account now) come from the ledger with ``--member``;
    without them the scenario's ``prior_index`` stands for every month already paid.
    """

    birth_date: date
    sex: str
    hukou: str
    lives_in: str
    category: Category
    paid_months: int = 0
    paid_indices: tuple[Fraction, ...] | None = None
    paid_region: str | None = None
    balance_fen: int | None = None


@dataclass(frozen=True, slots=True)
class Way:
    """One way of paying. ``region`` is where it is paid (a policy region, or for the
    residents' scheme the hukou code); ``place`` says whether that is the hukou place."""

    scheme: Literal["employee", "resident"]
    region: str
    place: Literal["hukou", "lives-in"]
    start: Month
    agency: bool = False
    base_percent: Decimal | None = None
    grade_fen: int | None = None

    @property
    def what(self) -> str:
        """The scheme and the level chosen: ``"employee 60%"``, ``"resident 500/yr"``."""
        if self.scheme == "resident":
            return f"resident {format_yuan(self.grade_fen or 0)[:-3]}/yr"
        return f"employee {self.base_percent}%"

    @property
    def where(self) -> str:
        """Where and how it is paid: ``"110000 hukou"``, ``"310000 via HR company"``."""
        return f"{self.region} " + ("via HR company" if self.agency else self.place)

    @property
    def label(self) -> str:
        return f"{self.what} {self.where} from {self.start}"

    @property
    def route(self) -> str:
        """The way without its base or grade: what a plot draws as one line."""
        how = " via HR company" if self.agency else ""
        return f"{self.scheme} {self.place} {self.region}{how} from {self.start}"


@dataclass(frozen=True)
class Outcome:
    """What one way costs and buys; amounts in fen, ages in whole months."""

    way: Way
    months_paid: int
    months_counted: int
    minimum_months: int
    eligible: bool
    paid_fen: int
    fees_fen: int
    paid_discounted_fen: int
    pension_month: Month
    pension_age_months: int
    calculation_base_fen: int | None
    average_index: Fraction | None
    balance_at_award_fen: int
    basic_fen: int
    personal_fen: int
    pension_fen: int
    replacement_rate: Fraction | None
    payback_month: Month | None
    payback_age_months: int | None
    irr: Decimal | None
    irr_to_age_months: int
    expected_pensions_fen: int
    expected_net_fen: int
    notes: tuple[str, ...] = ()
    flows: tuple[Flow, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Context:
    """What every way of one comparison shares."""

    person: Person
    policy: PolicySet
    scenario: CompareScenario
    as_of: Month
    retirement: Retirement
    alive: tuple[Decimal, ...]  # P(alive k months after as_of | alive now)
