"""Pension awards in the ledger, and the facts they are computed from.

What an award is computed from and how it is read back (``find_award``, ``paid_bases``,
``statutory``); awarding it, and a choice short of the minimum months, are
``ledger.operations.retirements``; the monthly payments ``pension_payments``; deaths
``deaths``.

Idempotency: an award is one row per member (primary key); the same command again returns
it and writes nothing, a different one is refused naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from sqlalchemy import Connection, select

from ledger.domain.accounts import personal
from ledger.domain.errors import BadInput, NotRetired
from ledger.domain.journal import EntryKind
from ledger.domain.members import Member
from ledger.domain.period import Month
from ledger.domain.rules.benefit import (
    PaidBase,
)
from ledger.domain.rules.pension import Category, default_category, retirement
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.store.tables import benefit_events, entries, pension_awards
from ledger.store.totals import balances_of

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


def paid_bases(conn: Connection, member_id: str) -> list[PaidBase]:
    """Each pension month the member paid, once, with the base it was last assessed on
    (a later adjustment of the month's base replaces the contribution's)."""
    rows = conn.execute(
        select(entries.c.period, entries.c.region, entries.c.base_fen)
        .where(
            entries.c.member_id == member_id,
            entries.c.scheme == PENSION,
            entries.c.kind.in_([EntryKind.CONTRIBUTION.value, EntryKind.ADJUSTMENT.value]),
            entries.c.period.is_not(None),
            entries.c.base_fen.is_not(None),
        )
        .order_by(entries.c.id)
    )
    by_month: dict[str, PaidBase] = {}
    for period, region, base in rows:
        by_month[period] = PaidBase(Month.parse(period), region, int(base))
    return sorted(by_month.values(), key=lambda p: p.month)


def _personal_balance(conn: Connection, member_id: str, as_of: date = ALL_RECORDED) -> int:
    """What the member's pension personal account holds (credit positive)."""
    name = personal(PENSION, member_id)
    return -balances_of(conn, [name], as_of).get(name, 0)


def find_award(conn: Connection, member_id: str) -> AwardRow | None:
    row = conn.execute(
        select(pension_awards).where(
            pension_awards.c.member_id == member_id, pension_awards.c.scheme == PENSION
        )
    ).first()
    if row is None:
        return None
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
