"""Pension awards in the ledger, and the facts they are computed from.

- ``award_pension``: at or after the statutory retirement date (2024 rules), a member with
  at least the minimum months (those of the year the statutory age was reached, NPC
  decision 2024-09-13) is awarded a pension computed from the ledger's own history
  (``rules.benefit.compute_award``) and recorded in ``pension_awards`` with every input;
  the monthly payments are ``pension_payments``; deaths and choices short of the minimum
  are ``benefit_events``.

Idempotency: an award is one row per member (primary key); the same command again returns
it and writes nothing, a different one is refused naming the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from sqlalchemy import Connection, insert, select

from ledger.domain.accounts import personal
from ledger.domain.errors import AlreadyRecorded, BadInput, NotRetired, ShortOfMinimum
from ledger.domain.journal import EntryKind
from ledger.domain.members import Member
from ledger.domain.period import Month
from ledger.domain.rules.benefit import (
    Award,
    PaidBase,
    age_on,
    compute_award,
)
from ledger.domain.rules.pension import Category, default_category, retirement
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.operations.temporary import collect_at_award
from ledger.store.queries import pension_place_of
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


def _fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def _fraction(text: str) -> Fraction:
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
        _fraction(row.average_index),
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


def plan_award(
    ledger: Ledger, conn: Connection, member: Member, on: date, category: str | None = None
) -> Award:
    """The award ``member`` would get retiring on ``on`` (no writes; any months) in the
    retirement ``category`` (default by sex; ``female-50`` for women workers from 50)."""
    reached = statutory(ledger, member, on, category)
    paid = paid_bases(conn, member.id)
    if not paid:
        raise ShortOfMinimum("member", f"{member.id} has paid no pension month")
    place = pension_place_of(conn, member.id, ledger.policy)
    region = place.region if place is not None else member.region
    years, extra = age_on(member.birth_date, on)
    return compute_award(
        paid,
        region=region,
        retired_on=on,
        age_years=years,
        age_extra_months=extra,
        personal_balance_fen=_personal_balance(conn, member.id, on),
        policy=ledger.policy,
        retirement_source=reached.rule_source,
        reached_year=reached.date.year,
    )


def award_pension(
    ledger: Ledger, conn: Connection, member_id: str, on: date, category: str | None = None
) -> AwardRow:
    """Award ``member_id`` a pension from ``on`` in the retirement ``category`` (default by
    sex); the same award again writes nothing. The category is recorded in the inputs."""
    member = ledger.member(conn, member_id)
    existing = find_award(conn, member.id)
    if existing is not None:
        if existing.retired_on != on:
            raise AlreadyRecorded(
                "on", f"{member.id} was awarded a pension on {existing.retired_on}, not {on}"
            )
        return existing
    death = find_event(conn, member.id, "death")
    if death is not None:
        raise BadInput("member", f"{member.id} died on {death.on_date}: no pension to award")
    choice = find_event(conn, member.id, "short-of-minimum")
    if choice is not None and choice.choice != "pay-on":
        raise AlreadyRecorded(
            "member", f"{member.id} chose {choice.choice} on {choice.on_date}: the insurance ended"
        )
    award = plan_award(ledger, conn, member, on, category)
    if not award.meets_minimum:
        reached = statutory(ledger, member, on, category).date.year
        raise ShortOfMinimum(
            "member",
            f"{member.id} has {award.months_counted} months, {award.minimum_months} needed "
            f"by those reaching retirement age in {reached} "
            f"(Social Insurance Law Art. 16; NPC decision 2024-09-13): choose with --short "
            f"{'|'.join(CHOICES)}",
        )
    inputs = {
        "category": category_of(member, category).value,
        "months": [
            {
                "region": y.region,
                "record_effective": y.effective.isoformat(),
                "months": y.months,
                "base_total_fen": y.base_total_fen,
                "average_wage_fen": _fraction_text(y.average_wage),
                "index_sum": _fraction_text(y.index_sum),
                "source": y.source,
                "status": y.status,
            }
            for y in award.years
        ],
    }
    conn.execute(
        insert(pension_awards).values(
            member_id=member.id,
            scheme=PENSION,
            region=award.region,
            retired_on=on,
            first_month=str(award.first_month),
            age_years=award.age_years,
            age_extra_months=award.age_extra_months,
            months_counted=award.months_counted,
            minimum_months=award.minimum_months,
            index_sum=_fraction_text(award.index_sum),
            average_index=_fraction_text(award.average_index),
            calculation_base_fen=award.calculation_base_fen,
            personal_balance_fen=award.personal_balance_fen,
            divisor=_fraction_text(award.divisor),
            basic_fen=award.basic_fen,
            personal_fen=award.personal_fen,
            total_fen=award.total_fen,
            inputs=json.dumps(inputs, ensure_ascii=False, sort_keys=True),
            sources="\n".join(award.sources),
            recorded_at=ledger.clock.now(),
        )
    )

    collected = collect_at_award(ledger, conn, member.id, award.region, on)
    return AwardRow(
        member.id,
        award.region,
        on,
        award.first_month,
        award.basic_fen,
        award.personal_fen,
        award.total_fen,
        award.months_counted,
        award.average_index,
        True,
        sum(1 for r in collected if r.created),
    )


# ---------------------------------------------------------------------- death and choices
