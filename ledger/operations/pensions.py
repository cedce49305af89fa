"""The benefit phase in the ledger: awards, monthly pensions, deaths, members short of the minimum.

- ``award_pension``: at or after the statutory retirement date (2024 rules), a member with
  at least the minimum months is awarded a pension computed from the ledger's own history
  (``rules.benefit.compute_award``) and recorded in ``pension_awards`` with every input;
- ``pension_payments.pay_month``: each awarded member's pension for a month as one balanced
  ``pension-payment`` entry: debit the paying region's pooling fund (basic pension,
  increases, and the personal-account pension once the account is spent), debit the
  personal account (the personal-account pension while it lasts), credit the region's
  ``collection`` account (the fund's money, paid out);
- ``record_death``: a ``death`` row in ``benefit_events``; the personal account left is
  owed to the heirs (an ``inheritance`` entry to ``heirs:pension:<member>``, Social
  Insurance Law Art. 14); pensions are paid through the month of death, none after;
- ``record_short_choice``: a member at retirement age short of the minimum months chooses
  explicitly, recorded once: ``pay-on`` (go on paying until the minimum, then retire),
  ``resident`` (the personal account moves into the residents' pension, 人社部发〔2014〕17号),
  ``refund`` (the insurance ends, the personal account is refunded to the member). With
  ``resident`` and ``refund`` the employee pension enrolment ends with the month before the
  choice: no later month is accepted in the employee scheme (``NotEnrolled``). Only the
  pension ends: medical insurance has its own rules (DOMAIN.md §3) and goes on.
- the minimum months are those of the year the member reached the statutory age, also
  for one who pays on and retires later (NPC decision 2024-09-13).

Idempotency: an award or event is one row per member (primary key), the same command again
returns it and writes nothing, a different one is refused naming the field; entries are
keyed ``pension:<YYYY-MM>:<member>``, ``inheritance:pension:<member>``,
``refund:pension:<member>``, ``scheme-change:pension:<member>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from sqlalchemy import Connection, insert, select

from ledger.domain import keys
from ledger.domain.accounts import heirs, personal, refunds
from ledger.domain.errors import AlreadyRecorded, BadInput, NotRetired, ShortOfMinimum
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Member
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.rules.benefit import (
    Award,
    PaidBase,
    age_on,
    compute_award,
)
from ledger.domain.rules.pension import Category, default_category, minimum_months, retirement
from ledger.domain.schemes import Scheme
from ledger.operations.pension_payments import pay_month
from ledger.operations.services import Ledger
from ledger.operations.temporary import collect_at_award
from ledger.store.queries import pension_place_of
from ledger.store.recorder import RecordedEntry
from ledger.store.tables import benefit_events, entries, pension_awards
from ledger.store.totals import balances_of

PENSION = Scheme.PENSION.value
CHOICES = ("pay-on", "resident", "refund")
# Everything recorded, whatever its effective date: what an account holds now.
_ALL = date(9999, 12, 31)


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


def _personal_balance(conn: Connection, member_id: str, as_of: date = _ALL) -> int:
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


def _statutory(ledger: Ledger, member: Member, on: date, category: str | None = None):
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
    reached = _statutory(ledger, member, on, category)
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
        reached = _statutory(ledger, member, on, category).date.year
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


def _event(
    ledger: Ledger,
    conn: Connection,
    member: Member,
    kind: str,
    on: date,
    choice: str | None,
    detail: str,
) -> bool:
    """Record the event once; True if written now. The same again is nothing; a
    different date or choice is refused."""
    found = find_event(conn, member.id, kind)
    if found is not None:
        if found.on_date != on or found.choice != choice:
            what = f"{found.choice} on {found.on_date}" if found.choice else str(found.on_date)
            raise AlreadyRecorded(
                "on" if found.choice == choice else "choice",
                f"{member.id}: {kind} already recorded ({what})",
            )
        return False
    conn.execute(
        insert(benefit_events).values(
            member_id=member.id,
            kind=kind,
            on_date=on,
            choice=choice,
            detail=detail,
            recorded_at=ledger.clock.now(),
        )
    )
    return True


def _move_personal(
    ledger: Ledger,
    conn: Connection,
    member: Member,
    kind: EntryKind,
    key: str,
    to: str,
    on: date,
    reason: str,
    scheme: str = PENSION,
) -> list[RecordedEntry]:
    """Move the whole personal account of ``scheme`` to ``to`` (nothing if it is empty)."""
    account = personal(scheme, member.id)
    balance = -balances_of(conn, [account], _ALL).get(account, 0)
    if balance == 0:
        return []
    region = pension_place_of(conn, member.id, ledger.policy) if scheme == PENSION else None
    draft = EntryDraft.build(
        kind=kind,
        effective_date=on,
        idempotency_key=key,
        reason=f"{reason}: {format_yuan(balance)}",
        member_id=member.id,
        scheme=scheme,
        region=region.region if region else member.region,
        postings=[(account, balance), (to, -balance)],
    )
    return ledger.recorder.append(conn, [draft])


def _end_employee_pension(ledger: Ledger, conn: Connection, member: Member, last: Month) -> None:
    """The employee pension insurance ends with ``last`` (the month before the choice): the
    enrolment in force is recorded again ending then (a later row supersedes an earlier
    one, ``Ledger.enrolment_for``), so no later month is accepted in the employee scheme.
    Nothing is written if it ends by then already (the same choice again)."""
    found = ledger.enrolments(conn, member.id, Scheme.PENSION)
    current = ledger.enrolment_for(found, last) or (found[-1] if found else None)
    if current is None or current.from_month > last:
        return
    if current.to_month is not None and current.to_month <= last:
        return
    ledger.enroll(
        conn,
        member.id,
        Scheme.PENSION,
        current.region,
        current.choice,
        current.from_month,
        method=current.method,
        agency=current.agency,
        signed_on=current.signed_on,
        to_month=last,
    )


def record_death(ledger: Ledger, conn: Connection, member_id: str, on: date) -> list[RecordedEntry]:
    """Record a death on ``on``: the pension stops after that month, and the personal
    account left is owed to the heirs (Social Insurance Law Art. 14). Returns the entries
    written: the month of death's pension if it was not paid yet (paid on ``on``), then
    the ``inheritance``."""
    member = ledger.member(conn, member_id)
    if on > ledger.clock.now().date():
        raise BadInput("on", f"{on} is in the future")
    if on < member.birth_date:
        raise BadInput("on", f"{on} is before the member's birth on {member.birth_date}")
    key = keys.inheritance(PENSION, member.id)
    if not _event(ledger, conn, member, "death", on, None, "died: pension stops after this month"):
        return []
    # The month of death is still paid: if its payment is not recorded yet, it is
    # recorded now, before the account is settled, so that the heirs get what it left.
    firsts = [
        Month.parse(m)
        for m in conn.execute(
            select(pension_awards.c.first_month).where(pension_awards.c.member_id == member.id)
        ).scalars()
    ]
    paid: list[RecordedEntry] = []
    if any(Month.of(on) >= first for first in firsts):
        paid = pay_month(ledger, conn, [member.id], Month.of(on), on)
    why = f"died {on}: the personal account left is owed to the heirs (Social Insurance Law "
    why += "Art. 14)"
    paid += _move_personal(
        ledger, conn, member, EntryKind.INHERITANCE, key, heirs(PENSION, member.id), on, why
    )
    # The residents' personal account too (Art. 14 speaks of the basic pension's personal
    # account; applying it to the residents' scheme is this ledger's reading).
    resident = Scheme.RESIDENT_PENSION.value
    return paid + _move_personal(
        ledger,
        conn,
        member,
        EntryKind.INHERITANCE,
        f"inheritance:{resident}:{member.id}",
        heirs(resident, member.id),
        on,
        why,
        scheme=resident,
    )


def record_short_choice(
    ledger: Ledger,
    conn: Connection,
    member_id: str,
    on: date,
    choice: str,
    category: str | None = None,
) -> list[RecordedEntry]:
    """The explicit choice of a member at retirement age short of the minimum months."""
    if choice not in CHOICES:
        raise BadInput("short", f"{choice!r} is not one of {', '.join(CHOICES)}")
    member = ledger.member(conn, member_id)
    reached = _statutory(ledger, member, on, category).date.year
    if find_award(conn, member.id) is not None:
        raise AlreadyRecorded("short", f"{member.id} is awarded a pension already")
    if find_event(conn, member.id, "death") is not None:
        raise BadInput("member", f"{member.id} is recorded dead")
    months = len(paid_bases(conn, member.id))
    needed = minimum_months(reached, ledger.policy)
    existing = find_event(conn, member.id, "short-of-minimum")
    if months >= needed and existing is None:
        raise BadInput(
            "short", f"{member.id} has {months} months (≥ {needed}): retire without --short"
        )
    detail = (
        f"{months} months paid, {needed} needed by those reaching retirement age in "
        f"{reached}: chose {choice}"
    )
    _event(ledger, conn, member, "short-of-minimum", on, choice, detail)
    if choice in ("refund", "resident"):
        _end_employee_pension(ledger, conn, member, Month.of(on) - 1)
    if choice == "refund":
        return _move_personal(
            ledger,
            conn,
            member,
            EntryKind.REFUND,
            keys.refund(PENSION, member.id),
            refunds(PENSION, member.id),
            on,
            f"insurance ended short of the minimum ({detail}): personal account refunded",
        )
    if choice == "resident":
        to = personal(Scheme.RESIDENT_PENSION.value, member.id)
        return _move_personal(
            ledger,
            conn,
            member,
            EntryKind.SCHEME_CHANGE,
            keys.scheme_change(PENSION, member.id),
            to,
            on,
            f"moved to the residents' pension ({detail}): the personal account merges in "
            f"(人社部发〔2014〕17号)",
        )
    return []
