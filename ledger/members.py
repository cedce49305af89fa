"""Members and their enrolments: who pays, into which scheme, where, how and from when.

Both are immutable records: a member is registered once (a second registration with other
details is refused), and an enrolment row is never changed; ending one appends its end
(``to_month``), and the storage reads the latest. No I/O here: ``ledger.store.rows`` maps
rows to these records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger.period import Month
from ledger.rules.contribution import BaseChoice
from ledger.schemes import Scheme

METHODS = ("monthly", "bank", "agency")
"""How an enrolment pays: by itself month by month, by annual bank deduction, or through
an HR company (``agency``) that charges an affiliate fee."""


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    region: str
    hukou: str
    sex: str
    birth_date: date


@dataclass(frozen=True, slots=True)
class Enrolment:
    id: int
    member_id: str
    scheme: Scheme
    region: str
    choice: BaseChoice
    method: str
    agency: str | None
    from_month: Month
    to_month: Month | None
    signed_on: date | None
