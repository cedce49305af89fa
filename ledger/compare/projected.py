"""The policy past its last year, as a comparison assumes it, and where a hukou insures.

``projected_policy`` extends the dated policy files with ``derived`` records for every
contribution year they do not reach yet: the last known average wage, base range and
pension calculation base grown by the scenario's ``wage_growth`` (rounded to the whole
yuan, as published figures are), the base range at ``base_range`` of it (60%–300%,
国办发〔2019〕13号 §3), and the crediting rate at ``interest`` for years with no rate
(``policy.assumed.with_assumed_interest``, as the simulation does), and a pension increase
(``pension.increase``, each 1 January) at the scenario's ``pension_increase`` for every year
after the last dated increase. Every rule then reads projected years exactly as it reads
published ones. Pure: no I/O.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from ledger.compare.scenario import CompareScenario
from ledger.domain.money import FEN_PER_YUAN, round_half_up
from ledger.domain.policy import PolicySet
from ledger.domain.policy.assumed import with_assumed_interest
from ledger.domain.policy.loader import NATIONAL
from ledger.domain.policy.records import PensionBase, PensionCalculationBase, PensionIncrease


def scheme_region(code: str, policy: PolicySet) -> str | None:
    """The policy region that insures someone registered in ``code``: the code itself, its
    prefecture (440106 → 440100) or its province (110105 → 110000); None if none."""
    for candidate in (code, code[:4] + "00", code[:2] + "0000"):
        if candidate in policy.regions:
            return candidate
    return None


def projected_policy(policy: PolicySet, scenario: CompareScenario, through: int) -> PolicySet:
    """``policy`` with a base range, calculation base and crediting rate for every year up
    to ``through`` that the files do not reach: the last known figure grown by
    ``wage_growth`` (to the whole yuan), rates at ``interest``; each record ``derived``."""
    growth = 1 + Fraction(scenario.wage_growth.value)
    low = Fraction(scenario.base_range.floor_percent) / 100
    high = Fraction(scenario.base_range.ceiling_percent) / 100
    records = {scope: dict(paths) for scope, paths in policy.records.items()}
    for code in policy.regions:
        own = records.setdefault(code, {})
        bases = [r for r in own.get(PensionBase.path, []) if r.variant is None]
        if bases:
            last = max(bases, key=lambda r: (r.effective, r.known_from))
            assert isinstance(last, PensionBase)
            wage = Fraction(last.average_wage_fen or Fraction(last.ceiling_fen, 3))
            added = []
            for year in range(last.effective.year + 1, through + 1):
                avg = round_half_up(wage * growth ** (year - last.effective.year), FEN_PER_YUAN)
                added.append(
                    PensionBase(
                        effective=date(year, 7, 1),
                        average_wage_fen=avg,
                        floor_fen=round_half_up(avg * low, FEN_PER_YUAN),
                        ceiling_fen=round_half_up(avg * high, FEN_PER_YUAN),
                        status="derived",
                        source="compare scenario: wage_growth, base_range",
                        note=f"projected from the {last.effective.year} record",
                    )
                )
            own[PensionBase.path] = [*own[PensionBase.path], *added]
        calcs = [r for r in own.get(PensionCalculationBase.path, []) if r.variant is None]
        if calcs:
            last_c = max(calcs, key=lambda r: (r.effective, r.known_from))
            assert isinstance(last_c, PensionCalculationBase)
            start = last_c.effective
            own[PensionCalculationBase.path] = [
                *own[PensionCalculationBase.path],
                *(
                    PensionCalculationBase(
                        effective=date(year, start.month, start.day),
                        monthly_fen=round_half_up(
                            last_c.monthly_fen * growth ** (year - start.year), FEN_PER_YUAN
                        ),
                        status="derived",
                        source="compare scenario: wage_growth",
                        note=f"projected from the {start.year} record",
                    )
                    for year in range(start.year + 1, through + 1)
                ),
            ]
    national = records.setdefault(NATIONAL, {})
    dated = [r for r in national.get(PensionIncrease.path, []) if r.variant is None]
    if dated:
        latest = max(dated, key=lambda r: r.effective)
        national[PensionIncrease.path] = [
            *national[PensionIncrease.path],
            *(
                PensionIncrease(
                    effective=date(year, 1, 1),
                    rate=scenario.pension_increase.value,
                    status="derived",
                    source="compare scenario: pension_increase",
                    note=f"projected after the {latest.effective.year} increase",
                )
                for year in range(latest.effective.year + 1, through + 1)
            ),
        ]
    grown = PolicySet(regions=policy.regions, records=records)
    return with_assumed_interest(grown, scenario.interest.value, through)
