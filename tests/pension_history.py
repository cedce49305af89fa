"""A policy with Beijing's figures carried back before the files' first year, for awards.

The policy files start in the 2016 contribution year; a pension needs 180 months (15
years), so a member retiring in 2025 paid from 2010. The test policy carries the earliest
records of the paths a 2010 month is assessed under back to 2010-07-01, marked ``derived``
(test figures, no official ones): Beijing's 2016 pension base (average wage 7,086) and
payment frequencies, and the national payment rules of 2016.
"""

from __future__ import annotations

from datetime import date

from ledger.domain.policy import PolicySet, default_policy
from ledger.domain.policy.loader import NATIONAL

CARRIED_FROM = date(2010, 7, 1)
PATHS = {
    "110000": ("pension.base", "payment.frequencies"),
    NATIONAL: ("payment.back_payment", "payment.frequencies", "payment.bank_agreement"),
}


def history_policy() -> PolicySet:
    base = default_policy()
    records = {scope: dict(paths) for scope, paths in base.records.items()}
    for scope, paths in PATHS.items():
        for path in paths:
            found = records[scope].get(path)
            if not found:
                continue
            first = min(found, key=lambda r: r.effective)
            copy = first.model_copy(
                update={
                    "effective": CARRIED_FROM,
                    "published": None,
                    "status": "derived",
                    "note": f"test fixture: the {first.effective} record carried back to 2010",
                }
            )
            records[scope][path] = [copy, *found]
    return PolicySet(regions=base.regions, records=records)
