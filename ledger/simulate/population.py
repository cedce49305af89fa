"""The simulated members: who they are and what they chose, drawn from the scenario.

Each member has its own random stream, seeded from the run's seed and the member's
index (``random.Random(f"{seed}:{index}")``, which Python seeds through SHA-512, not the
process's hash seed), so a member's history does not depend on how many others there
are or in what order they are processed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ledger.domain.identity import check_character
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.rules.pension import Category, retirement
from ledger.simulate.scenario import Scenario

# A county code inside each region, for the members' citizen ID numbers.
COUNTY = {
    "110000": "110105",
    "310000": "310115",
    "120000": "120101",
    "440100": "440106",
    "440300": "440304",
}


def pick(rng: random.Random, weights: dict[str, int]) -> str:
    """A key drawn with its integer weight (keys in insertion order: deterministic)."""
    total = sum(weights.values())
    draw = rng.randrange(total)
    for key, weight in weights.items():
        if draw < weight:
            return key
        draw -= weight
    raise AssertionError("unreachable: weights sum to total")


def chance(rng: random.Random, probability: Decimal) -> bool:
    """True with ``probability``; drawn as an integer so no float decides anything."""
    return rng.randrange(1_000_000) < int(probability * 1_000_000)


@dataclass
class Member:
    """One simulated member: fixed facts, then the state the simulation moves along."""

    index: int
    id: str
    region: str
    birth_date: date
    sex: str
    category: Category
    resident: bool
    medical: bool
    method: str
    agency: str | None
    percent: str
    grade: str
    retire_month: Month
    rng: random.Random = field(repr=False)
    retired: bool = False
    missed: list[Month] = field(default_factory=list)
    moves: int = 0


def draw_members(
    scenario: Scenario,
    seed: int,
    count: int,
    start: Month,
    policy: PolicySet,
    regions: list[str] | None = None,
) -> list[Member]:
    """``count`` members, each with its own stream; IDs unique by construction."""
    pop = scenario.population
    weights = {r: w for r, w in pop.regions.items() if regions is None or r in regions}
    if regions:
        weights = {r: weights.get(r, 1) for r in regions}
    taken: set[str] = set()
    members = []
    for index in range(count):
        rng = random.Random(f"{seed}:{index}")
        region = pick(rng, weights)
        female = chance(rng, pop.female_share)
        year = rng.randint(*pop.birth_years)
        born = date(year, rng.randint(1, 12), rng.randint(1, 28))
        sequence = rng.randrange(500) * 2 + (0 if female else 1)
        county = COUNTY.get(region, region)
        while True:
            first17 = f"{county}{born:%Y%m%d}{sequence % 1000:03d}"
            number = first17 + check_character(first17)
            if number not in taken:
                break
            sequence += 2
        taken.add(number)
        category = (
            Category.MALE
            if not female
            else Category.FEMALE_50
            if chance(rng, pop.female_50_share)
            else Category.FEMALE_55
        )
        resident = chance(rng, pop.resident_share)
        method = pick(rng, scenario.payment.methods) if not resident else "monthly"
        members.append(
            Member(
                index=index,
                id=number,
                region=region,
                birth_date=born,
                sex="female" if female else "male",
                category=category,
                resident=resident,
                medical=not resident and chance(rng, pop.medical_share),
                method=method,
                agency=rng.choice(scenario.payment.agencies) if method == "agency" else None,
                percent=pick(rng, scenario.base.percents),
                grade=pick(rng, scenario.base.resident_grades),
                retire_month=retirement(born, category, policy).month,
                rng=rng,
            )
        )
    return members
