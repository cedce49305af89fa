"""Members and their enrolments: who pays, into which scheme, where, how and from when.

Both are immutable records: a member is registered once (a second registration with other
details is refused), and an enrolment row is never changed; ending one appends its end
(``to_month``), and the storage reads the latest. No I/O here: ``ledger.store.rows`` maps
rows to these records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger.domain.errors import BadInput
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme

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


def check_terms(method: str, agency: str | None, from_month: Month, to_month: Month | None) -> None:
    """Refuse an enrolment's terms that break a rule: an unknown method, an HR company
    without method ``agency`` (or the reverse), a company name that is not a plain word,
    an end before the start."""
    if method not in METHODS:
        raise BadInput("method", f"{method!r} is not one of {', '.join(METHODS)}")
    if method == "agency" and not agency:
        raise BadInput("agency", "method agency needs the HR company: --agency NAME")
    if method != "agency" and agency:
        raise BadInput("agency", "--agency goes with --method agency")
    if agency is not None and not agency.replace("-", "").replace("_", "").isalnum():
        raise BadInput("agency", f"{agency!r}: use letters, digits, - and _ only")
    if to_month is not None and to_month < from_month:
        raise BadInput("to", f"{to_month} is before {from_month}")
