"""Pension awards in the ledger, and the facts they are computed from.

What an award is read back as (``award_from_row``) and the statutory date it needs
(``statutory``); awarding it, and a choice short of the minimum months, are
``ledger.operations.retirements``; the monthly payments ``pension_payments``; deaths
``deaths``.

Idempotency: an award is one row per member (primary key); the same command again returns
it and writes nothing, a different one is refused naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, select

from ledger.domain.errors import BadInput, NotRetired
from ledger.domain.members import Member
from ledger.domain.period import Month
from ledger.domain.rules.pension import Category, default_category, retirement
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.store.tables import benefit_events

PENSION = Scheme.PENSION.value
CHOICES = ("pay-on", "resident", "refund")
# Everything recorded, whatever its effective date: what an account holds now.
ALL_RECORDED = date(9999, 12, 31)


@dataclass(frozen=True, slots=True)
class AwardRow:
    """A recorded award (``pension_awards``), read back."""

    member_id: str
    region: str
    retired_on: date
    first_month: Month
    basic_fen: int
    personal_fen: int
    total_fen: int
    months_counted: int
    average_index: Fraction
    created: bool
    entries_posted: int = 0


def fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def fraction(text: str) -> Fraction:
    return Fraction(text)


def award_from_row(row: Any) -> AwardRow:
    """A ``pension_awards`` row as an ``AwardRow`` (recorded before: ``created`` False)."""
    return AwardRow(
        row.member_id,
        row.region,
        row.retired_on,
        Month.parse(row.first_month),
        row.basic_fen,
        row.personal_fen,
        row.total_fen,
        row.months_counted,
        fraction(row.average_index),
        False,
    )


def find_event(conn: Connection, member_id: str, kind: str):
    return conn.execute(
        select(benefit_events).where(
            benefit_events.c.member_id == member_id, benefit_events.c.kind == kind
        )
    ).first()


def category_of(member: Member, category: str | None) -> Category:
    """The retirement category chosen for ``member`` (default: by sex, women from 55);
    one for the other sex is refused naming ``category``."""
    if category is None:
        return default_category(member.sex)
    try:
        chosen = Category(category)
    except ValueError:
        raise BadInput(
            "category", f"{category!r} is not one of {', '.join(c.value for c in Category)}"
        ) from None
    if chosen.sex != member.sex:
        raise BadInput("category", f"{chosen.value!r} is not a category for a {member.sex} member")
    return chosen


def statutory(ledger: Ledger, member: Member, on: date, category: str | None = None):
    chosen = category_of(member, category)
    reached = retirement(member.birth_date, chosen, ledger.policy)
    if on < reached.date:
        raise NotRetired(
            "on",
            f"{on} is before {member.id}'s statutory retirement date {reached.date} "
            f"(age {reached.age_label}, {chosen.value}, NPC decision 2024-09-13)",
        )
    return reached


# ---------------------------------------------------------------------- death and choices
