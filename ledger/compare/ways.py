"""The ways open to one person, and the best of them by a chosen measure.

Open ways (DOMAIN.md §1, §2, §7, §9; seeds 000 and 004):
- the residents' pension at each yearly grade, paid at the hukou place;
- flexible employee at each base percent (within the scenario's ``base_range``, 60% to
  300% by 国办发〔2019〕13号 §3) at the hukou place when the policy files have a scheme
  there;
- the same where the person lives, if that is elsewhere: through an HR company with its
  affiliate fee (``affiliate.fee``), directly, or both, as ``away_from_hukou`` says;
- each from every start month asked for (now, or later).

Measures for "best" (``BY``): ``irr`` (highest), ``payback`` (earliest age), ``pension``
(highest monthly pension), ``net`` (highest expected value: survival-weighted, discounted
pensions less discounted payments). Ways short of the minimum months are never best.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ledger.compare.model import Context, Outcome, Person, Way
from ledger.compare.projected import scheme_region
from ledger.compare.projection import context, employee, resident
from ledger.compare.scenario import CompareScenario
from ledger.domain.errors import BadInput
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.policy.records import ResidentPension

BY: dict[str, Callable[[Outcome], object]] = {
    "irr": lambda o: o.irr,
    "payback": lambda o: None if o.payback_age_months is None else -o.payback_age_months,
    "pension": lambda o: o.pension_fen,
    "net": lambda o: o.expected_net_fen,
}


@dataclass(frozen=True)
class Comparison:
    """Every way's outcome, in the order the ways were listed, and the best by ``by``."""

    context: Context
    outcomes: tuple[Outcome, ...]
    by: str
    best: Outcome | None


def parse_bases(text: str, scenario: CompareScenario) -> list[Decimal]:
    """``"60,100,300"`` or a step ``"60:300:20"`` (from, to, step), each a percent inside
    the scenario's base range; errors name ``bases``."""
    low, high = scenario.base_range.floor_percent, scenario.base_range.ceiling_percent
    try:
        if ":" in text:
            first, last, step = (Decimal(p.strip()) for p in text.split(":"))
            if step <= 0 or last < first:
                raise BadInput("bases", f"{text!r}: give from:to:step with to ≥ from, step > 0")
            found, value = [], first
            while value <= last:
                found.append(value)
                value += step
        else:
            found = [Decimal(p.strip().removesuffix("%")) for p in text.split(",")]
    except (ArithmeticError, ValueError):
        raise BadInput(
            "bases", f"{text!r} is not a list of percents (60,100,300) or a step (60:300:20)"
        ) from None
    for value in found:
        if not value.is_finite() or not low <= value <= high:
            raise BadInput(
                "bases",
                f"{value}% is outside {low}% to {high}% of the average "
                f"wage ({scenario.base_range.source})",
            )
    if len(found) > 50:
        raise BadInput("bases", f"{len(found)} bases: give at most 50")
    return sorted(set(found))


def parse_grades(text: str | None, policy: PolicySet, on: Month) -> list[int]:
    """Residents' grades in yuan a year (``"100,500,2000"``); all the policy's by default,
    ``"none"`` for none. Each must be a grade the policy offers."""
    offered = policy.at(ResidentPension, on.first_day).grades_fen
    if text is None:
        return list(offered)
    if text.strip().lower() == "none":
        return []
    found = []
    for part in text.split(","):
        try:
            fen = round(Decimal(part.strip()) * 100)
        except (ArithmeticError, ValueError):
            raise BadInput("grades", f"{part!r} is not an amount in yuan") from None
        if fen not in offered:
            names = ", ".join(format_yuan(g)[:-3] for g in offered)
            raise BadInput("grades", f"{part.strip()} is not a residents' grade ({names})")
        found.append(fen)
    return sorted(set(found))


def parse_starts(text: str | None, as_of: Month) -> list[Month]:
    """Start months, ``"2026-12,2030-01"``; the present month by default; none earlier."""
    if text is None:
        return [as_of]
    starts = sorted({Month.parse(part, "start") for part in text.split(",")})
    for start in starts:
        if start < as_of:
            raise BadInput("start", f"{start} is before the present month {as_of}")
    return starts


def ways_open(
    person: Person,
    policy: PolicySet,
    scenario: CompareScenario,
    bases: Sequence[Decimal],
    grades: Sequence[int],
    starts: Sequence[Month],
) -> list[Way]:
    """Every way this person may pay, in a stable order: by start, resident, hukou, away."""
    home = scheme_region(person.hukou, policy)
    away = person.lives_in if person.lives_in != home else None
    routes: list[tuple[str, str, bool]] = []  # (region, place, through an HR company)
    if home is not None:
        routes.append((home, "hukou", False))
    if away is not None:
        mode = scenario.away_from_hukou.value
        if mode in ("direct", "both"):
            routes.append((away, "lives-in", False))
        if mode in ("agency", "both"):
            routes.append((away, "lives-in", True))
    found: list[Way] = []
    for start in starts:
        found += [Way("resident", person.hukou, "hukou", start, grade_fen=g) for g in grades]
        for region, place, agency in routes:
            found += [
                Way(
                    "employee",
                    region,
                    place,
                    start,  # type: ignore[arg-type]
                    agency=agency,
                    base_percent=b,
                )
                for b in bases
            ]
    return found


def compare(
    person: Person,
    policy: PolicySet,
    scenario: CompareScenario,
    as_of: Month,
    *,
    bases: Sequence[Decimal],
    grades: Sequence[int],
    starts: Sequence[Month],
    by: str = "irr",
) -> Comparison:
    """Project every open way and pick the best by ``by`` (one of ``BY``)."""
    if by not in BY:
        raise BadInput("by", f"{by!r} is not one of {', '.join(BY)}")
    if person.lives_in not in policy.regions:
        known = ", ".join(sorted(policy.regions))
        raise BadInput(
            "lives_in",
            f"{person.lives_in!r} has no flexible-employee scheme in the policy files ({known})",
        )
    ctx = context(person, policy, scenario, as_of)
    for start in starts:
        if start >= ctx.retirement.month:
            raise BadInput(
                "start", f"{start} is not before the retirement month {ctx.retirement.month}"
            )
    outcomes: list[Outcome] = []
    for way in ways_open(person, policy, scenario, bases, grades, starts):
        outcome = employee(ctx, way) if way.scheme == "employee" else resident(ctx, way)
        if outcome is not None:
            outcomes.append(outcome)
    if not outcomes:
        raise BadInput("bases", "no way to compare: give --bases or --grades")
    measure = BY[by]
    ranked = [o for o in outcomes if o.eligible and measure(o) is not None]
    best = max(ranked, key=measure) if ranked else None  # type: ignore[arg-type, return-value]
    return Comparison(ctx, tuple(outcomes), by, best)
