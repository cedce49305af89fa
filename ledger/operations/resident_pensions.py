"""The residents' pension (城乡居民基本养老保险) in the ledger: award and monthly payment.

What DOMAIN.md §7 sources (国发〔2014〕8号), and only that:
- paid from age ``pension_age_years`` (60) to a member with at least ``minimum_years``
  (15) years of resident contributions (the ``resident.pension_benefit`` policy record);
- the pension is a basic pension, the national minimum in force at the award (123.00 a
  month from 2024), plus the personal account ÷ ``divisor_months`` (139).

``award_resident_pension`` records the award in ``pension_awards`` with scheme
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
from datetime import date
from fractions import Fraction

from sqlalchemy import Connection, func, insert, select

from ledger.domain.accounts import personal
from ledger.domain.errors import AlreadyRecorded, BadInput, NotRetired, ShortOfMinimum
from ledger.domain.journal import EntryKind
from ledger.domain.money import round_half_up
from ledger.domain.period import Month
from ledger.domain.policy.records import ResidentPensionBenefit
from ledger.domain.rules.benefit import age_on
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.store.tables import benefit_events, entries, pension_awards
from ledger.store.totals import balances_of

RESIDENT = Scheme.RESIDENT_PENSION.value
_ALL = date(9999, 12, 31)


def _years_paid(conn: Connection, member_id: str) -> tuple[list[int], str | None]:
    """The calendar years with a resident pension contribution, and the last one's region."""
    rows = conn.execute(
        select(func.substr(entries.c.period, 1, 4), entries.c.region)
        .where(
            entries.c.member_id == member_id,
            entries.c.scheme == RESIDENT,
            entries.c.kind == EntryKind.CONTRIBUTION.value,
        )
        .order_by(entries.c.period)
    ).all()
    years = sorted({int(y) for y, _ in rows})
    return years, (rows[-1][1] if rows else None)


def award_resident_pension(ledger: Ledger, conn: Connection, member_id: str, on: date):
    """Award ``member_id`` the residents' pension from ``on``; the same again writes
    nothing, another date is refused naming ``on``. Returns the ``pension_awards`` row."""
    member = ledger.member(conn, member_id)
    found = conn.execute(
        select(pension_awards).where(
            pension_awards.c.member_id == member.id, pension_awards.c.scheme == RESIDENT
        )
    ).first()
    if found is not None:
        if found.retired_on != on:
            raise AlreadyRecorded(
                "on",
                f"{member.id} was awarded the residents' pension on {found.retired_on}, not {on}",
            )
        return found
    death = conn.execute(
        select(benefit_events).where(
            benefit_events.c.member_id == member.id, benefit_events.c.kind == "death"
        )
    ).first()
    if death is not None:
        raise BadInput("member", f"{member.id} died on {death.on_date}: no pension to award")
    benefit = ledger.policy.at(ResidentPensionBenefit, on)
    years, extra = age_on(member.birth_date, on)
    if years < benefit.pension_age_years:
        raise NotRetired(
            "on",
            f"{member.id} is {years}y{extra}m on {on}: the residents' "
            f"pension starts at {benefit.pension_age_years} "
            f"({benefit.source})",
        )
    paid, region = _years_paid(conn, member.id)
    if len(paid) < benefit.minimum_years:
        raise ShortOfMinimum(
            "member",
            f"{member.id} has {len(paid)} years of resident "
            f"contributions, {benefit.minimum_years} needed "
            f"({benefit.source})",
        )
    account = personal(RESIDENT, member.id)
    balance = -balances_of(conn, [account], on).get(account, 0)
    personal_fen = round_half_up(Fraction(balance, benefit.divisor_months))
    basic_fen = benefit.basic_minimum_monthly_fen
    inputs = {
        "years": paid,
        "basic_minimum_fen": basic_fen,
        "status": benefit.status,
        "basic_effective": benefit.effective.isoformat(),
    }
    conn.execute(
        insert(pension_awards).values(
            member_id=member.id,
            scheme=RESIDENT,
            region=region or member.region,
            retired_on=on,
            first_month=str(Month.of(on) + 1),
            age_years=years,
            age_extra_months=extra,
            months_counted=len(paid) * 12,
            minimum_months=benefit.minimum_years * 12,
            index_sum="0",
            average_index="0",
            calculation_base_fen=0,
            personal_balance_fen=balance,
            divisor=f"{benefit.divisor_months}/1",
            basic_fen=basic_fen,
            personal_fen=personal_fen,
            total_fen=basic_fen + personal_fen,
            inputs=json.dumps(inputs, sort_keys=True),
            sources=benefit.source,
            recorded_at=ledger.clock.now(),
        )
    )
    return conn.execute(
        select(pension_awards).where(
            pension_awards.c.member_id == member.id, pension_awards.c.scheme == RESIDENT
        )
    ).one()


__all__ = ["RESIDENT", "award_resident_pension"]
