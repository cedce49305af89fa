"""Projections: a provisional crediting rate for the years no rate has been published for.

A simulation runs decades past the last published rate (记账利率, DOMAIN.md §4); crediting
those years needs a rate, and recording it as ``provisional``, with the scenario named as
its source, keeps the projection honest in every entry's reason.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledger.domain.policy import PolicySet
from ledger.domain.policy.loader import NATIONAL
from ledger.domain.policy.records import InterestRate


def with_assumed_interest(policy: PolicySet, rate: Decimal, through: int) -> PolicySet:
    """A copy of ``policy`` with a provisional crediting rate for every year up to ``through``
    that has none."""
    national = dict(policy.records.get(NATIONAL, {}))
    rates = list(national.get(InterestRate.path, []))
    have = {r.year for r in rates if isinstance(r, InterestRate)}
    first = max(have, default=through) + 1
    for year in range(first, through + 1):
        rates.append(
            InterestRate(
                year=year,
                effective=date(year, 1, 1),
                published=date(year, 1, 1),
                rate=rate,
                status="provisional",
                source="simulation scenario: assumed rate",
                note="no published or provisional rate for this year: the scenario's assumption",
            )
        )
    national[InterestRate.path] = rates
    return PolicySet(regions=policy.regions, records={**policy.records, NATIONAL: national})
