"""The residents' pension (城乡居民基本养老保险) in the ledger: award and monthly payment.

What DOMAIN.md §7 sources (国发〔2014〕8号), and only that:
- paid from age ``pension_age_years`` (60) to a member with at least ``minimum_years``
  (15) years of resident contributions (the ``resident.pension_benefit`` policy record);
- the pension is a basic pension, the national minimum in force at the award (123.00 a
  month from 2024), plus the personal account ÷ ``divisor_months`` (139).

One path for one member and for a batch: ``load`` reads the facts in a few queries,
``decide`` is pure (per member: the award, the first rule that refuses it, or already
done), ``award`` inserts the new awards at once; ``award_resident_pension`` is a batch of
one. The award is recorded in ``pension_awards`` with scheme
``resident-pension`` (one row per member and scheme): every input (the years counted,
the balance, the divisor, the basic minimum and its source) in ``inputs``; the columns of
the employee formula that do not apply (index, calculation base) hold 0. The account
includes an employee personal account merged in by ``retire --short resident``
(人社部发〔2014〕17号).

``operations.pension_payments`` pays each month as one balanced ``pension-payment`` entry
keyed ``resident-pension:<YYYY-MM>:<member>``: debit the member's resident personal
account (the personal part while it lasts), debit the region's ``subsidy:resident-pension``
account (the basic pension, and the personal part once the account is spent), credit the
region's ``collection:resident-pension`` account.

Not sourced in DOMAIN.md, so assumed and said here: the government's subsidy account pays
the basic pension and the personal part after the account is spent (the notice's own
funding split, central and local, is not modelled); employee months of a member moved to
the residents' scheme do not count as resident years (DOMAIN.md states the rule only for
the other direction); residents' pensions get no yearly increase (no dated source; the
basic minimum of the award year is kept).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from ledger.domain.accounts import personal
from ledger.domain.errors import (
    AlreadyRecorded,
    BadInput,
    LedgerError,
    NotRetired,
    ShortOfMinimum,
    UnknownMember,
)
from ledger.domain.identity import parse_citizen_id
from ledger.domain.journal import EntryKind
from ledger.domain.members import Member
from ledger.domain.money import round_half_up
from ledger.domain.period import Month
from ledger.domain.policy.loader import PolicySet
from ledger.domain.policy.records import ResidentPensionBenefit
from ledger.domain.rules.benefit import age_on
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK
from ledger.operations.bulk import citizen_number, members_of
from ledger.operations.services import Ledger
from ledger.store.tables import benefit_events, entries, pension_awards
from ledger.store.totals import balances_of

RESIDENT = Scheme.RESIDENT_PENSION.value

Item = tuple[str, date]
"""One award to make: the member (a citizen number as given) and the day it starts from."""


@dataclass(frozen=True, slots=True)
class Paid:
    """A member's resident contributions: the calendar years, and the last one's region."""

    years: tuple[int, ...] = ()
    region: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What awarding a batch needs to know (``load``)."""

    today: date
    members: Mapping[str, Member]
    awarded: Mapping[str, date]
    """The day each member's residents' pension was awarded from, if it was."""
    died: Mapping[str, date]
    paid: Mapping[str, Paid]
    balances: Mapping[Item, int]
    """The resident personal account on the award's day, by (member, day): credit positive."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One award: the ``pension_awards`` row to insert (``values``), the rule that refused
    it, or neither (awarded before from the same day: already done)."""

    member_id: str
    on: date
    values: Mapping[str, Any] = field(default_factory=dict)
    refused: LedgerError | None = None


def load(ledger: Ledger, conn: Connection, items: Sequence[Item]) -> Facts:
    """The facts ``decide`` needs for ``items``: a few queries per 500 members."""
    today = ledger.clock.now().date()
    numbers = {text: citizen_number(text, today) for text, _ in items}
    ids = sorted({n for n in numbers.values() if n is not None})
    awarded: dict[str, date] = {}
    died: dict[str, date] = {}
    years: defaultdict[str, set[int]] = defaultdict(set)
    last_region: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for row in conn.execute(
            select(pension_awards.c.member_id, pension_awards.c.retired_on).where(
                pension_awards.c.scheme == RESIDENT, pension_awards.c.member_id.in_(chunk)
            )
        ):
            awarded[row.member_id] = row.retired_on
        for row in conn.execute(
            select(benefit_events.c.member_id, benefit_events.c.on_date).where(
                benefit_events.c.kind == "death", benefit_events.c.member_id.in_(chunk)
            )
        ):
            died[row.member_id] = row.on_date
        for row in conn.execute(
            select(entries.c.member_id, func.substr(entries.c.period, 1, 4), entries.c.region)
            .where(
                entries.c.member_id.in_(chunk),
                entries.c.scheme == RESIDENT,
                entries.c.kind == EntryKind.CONTRIBUTION.value,
            )
            .order_by(entries.c.member_id, entries.c.period)
        ):
            member_id, year, region = row
            years[member_id].add(int(year))
            last_region[member_id] = region
    by_day: defaultdict[date, set[str]] = defaultdict(set)
    for text, on in items:
        number = numbers[text]
        if number is not None and number not in awarded:
            by_day[on].add(number)
    balances: dict[Item, int] = {}
    for on, who in by_day.items():
        held = balances_of(conn, [personal(RESIDENT, m) for m in sorted(who)], on)
        balances.update({(m, on): -held.get(personal(RESIDENT, m), 0) for m in who})
    return Facts(
        today=today,
        members=members_of(conn, ids),
        awarded=awarded,
        died=died,
        paid={m: Paid(tuple(sorted(y)), last_region.get(m)) for m, y in years.items()},
        balances=balances,
    )


def decide(policy: PolicySet, facts: Facts, items: Sequence[Item]) -> list[Decision]:
    """Each award's decision, in order, with no I/O. Refused, in this order of precedence:

    1. the member is a valid citizen number (``InvalidCitizenId`` on ``member``), registered
       (``UnknownMember``);
    2. no residents' pension is awarded to the member from another day, in the ledger or
       earlier in the batch (``AlreadyRecorded`` on ``on``; the same day: already done);
    3. the member has not died (``BadInput`` on ``member``);
    4. the member has reached the pension age on ``on`` (``NotRetired`` on ``on``);
    5. the member has the minimum years of resident contributions (``ShortOfMinimum``).
    """
    decisions: list[Decision] = []
    seen: dict[str, date] = {}
    for text, on in items:
        try:
            decisions.append(_award(policy, facts, text, on, seen))
        except LedgerError as refusal:
            decisions.append(Decision(text, on, refused=refusal))
    return decisions


def _award(policy: PolicySet, facts: Facts, text: str, on: date, seen: dict[str, date]) -> Decision:
    number = parse_citizen_id(text, today=facts.today, field="member").number
    member = facts.members.get(number)
    if member is None:
        raise UnknownMember(number)
    earlier = facts.awarded.get(number, seen.get(number))
    if earlier is not None:
        if earlier != on:
            raise AlreadyRecorded(
                "on", f"{number} was awarded the residents' pension on {earlier}, not {on}"
            )
        return Decision(number, on)
    died = facts.died.get(number)
    if died is not None:
        raise BadInput("member", f"{number} died on {died}: no pension to award")
    benefit = policy.at(ResidentPensionBenefit, on)
    years, extra = age_on(member.birth_date, on)
    if years < benefit.pension_age_years:
        raise NotRetired(
            "on",
            f"{number} is {years}y{extra}m on {on}: the residents' pension starts at "
            f"{benefit.pension_age_years} ({benefit.source})",
        )
    paid = facts.paid.get(number, Paid())
    if len(paid.years) < benefit.minimum_years:
        raise ShortOfMinimum(
            "member",
            f"{number} has {len(paid.years)} years of resident contributions, "
            f"{benefit.minimum_years} needed ({benefit.source})",
        )
    seen[number] = on
    balance = facts.balances.get((number, on), 0)
    personal_fen = round_half_up(Fraction(balance, benefit.divisor_months))
    basic_fen = benefit.basic_minimum_monthly_fen
    inputs = {
        "years": list(paid.years),
        "basic_minimum_fen": basic_fen,
        "status": benefit.status,
        "basic_effective": benefit.effective.isoformat(),
    }
    values = {
        "member_id": number,
        "scheme": RESIDENT,
        "region": paid.region or member.region,
        "retired_on": on,
        "first_month": str(Month.of(on) + 1),
        "age_years": years,
        "age_extra_months": extra,
        "months_counted": len(paid.years) * 12,
        "minimum_months": benefit.minimum_years * 12,
        "index_sum": "0",
        "average_index": "0",
        "calculation_base_fen": 0,
        "personal_balance_fen": balance,
        "divisor": f"{benefit.divisor_months}/1",
        "basic_fen": basic_fen,
        "personal_fen": personal_fen,
        "total_fen": basic_fen + personal_fen,
        "inputs": json.dumps(inputs, sort_keys=True),
        "sources": benefit.source,
    }
    return Decision(number, on, values)


def award(ledger: Ledger, conn: Connection, items: Sequence[Item]) -> list[Decision]:
    """Award each item: load the facts, decide, insert the new awards at once."""
    decisions = decide(ledger.policy, load(ledger, conn, items), items)
    rows = [{**d.values, "recorded_at": ledger.clock.now()} for d in decisions if d.values]
    if rows:
        conn.execute(insert(pension_awards), rows)
    return decisions


def award_resident_pension(ledger: Ledger, conn: Connection, member_id: str, on: date) -> Row:
    """Award ``member_id`` the residents' pension from ``on`` (a batch of one); the same
    again writes nothing, another date is refused naming ``on``. Returns the
    ``pension_awards`` row."""
    [decision] = award(ledger, conn, [(member_id, on)])
    if decision.refused is not None:
        raise decision.refused
    return conn.execute(
        select(pension_awards).where(
            pension_awards.c.member_id == decision.member_id, pension_awards.c.scheme == RESIDENT
        )
    ).one()


__all__ = ["RESIDENT", "award", "award_resident_pension", "decide", "load"]
