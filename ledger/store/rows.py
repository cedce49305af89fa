"""Row mappers: database rows to the domain's immutable records.

Rows of append-only tables never change, so the same row content always maps to the same
object, and mappers may cache by content.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme

_ENROLMENTS: dict[tuple, Enrolment] = {}
_ENROLMENTS_MAX = 200_000


def enrolment_from_row(row) -> Enrolment:
    """The enrolment a row holds. Rows never change (enrolments are append-only), so the
    same row content gives the same (immutable) object: batches read thousands of rows
    they read before, and building the object is most of the cost. Keyed by the row's
    values themselves (one tuple, no attribute lookups on a hit)."""
    key = tuple(row)
    found = _ENROLMENTS.get(key)
    if found is None:
        if len(_ENROLMENTS) >= _ENROLMENTS_MAX:
            _ENROLMENTS.clear()
        found = _ENROLMENTS[key] = Enrolment(
            id=row.id,
            member_id=row.member_id,
            scheme=Scheme(row.scheme),
            region=row.region,
            choice=_choice(row.base_percent, row.base_fen, row.grade),
            method=row.method,
            agency=row.agency,
            from_month=_month(row.from_month),
            to_month=_month(row.to_month) if row.to_month else None,
            signed_on=row.signed_on,
        )
    return found


@lru_cache(maxsize=4096)
def _choice(percent: str | None, amount_fen: int | None, grade: str | None) -> BaseChoice:
    """A stored choice (few distinct ones: batches read thousands of the same)."""
    return BaseChoice(Decimal(percent) if percent is not None else None, amount_fen, grade)


@lru_cache(maxsize=4096)
def _month(text: str) -> Month:
    return Month.parse(text)
