"""Members leaving the employee pension: deaths, and a choice short of the minimum months.

- ``record_death``: a ``death`` row in ``benefit_events``; the personal account left is
  owed to the heirs (an ``inheritance`` entry to ``heirs:pension:<member>``, Social
  Insurance Law Art. 14); pensions are paid through the month of death, none after;
- ``record_short_choice``: a member at retirement age short of the minimum months (those
  of the year the statutory age was reached, NPC decision 2024-09-13) chooses explicitly,
  recorded once: ``pay-on`` (go on paying until the minimum, then retire), ``resident``
  (the personal account moves into the residents' pension, 人社部发〔2014〕17号), ``refund``
  (the insurance ends, the personal account is refunded to the member). With ``resident``
  and ``refund`` the employee pension enrolment ends with the month before the choice;
  only the pension ends: medical insurance has its own rules (DOMAIN.md §3) and goes on.

Idempotency: an event is one row per member (primary key); the same command again
returns it and writes nothing, a different one is refused naming the field; entries are
keyed ``inheritance:pension:<member>``, ``refund:pension:<member>``,
``scheme-change:pension:<member>``.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, insert, select

from ledger.domain import keys
from ledger.domain.accounts import heirs, personal, refunds
from ledger.domain.errors import AlreadyRecorded, BadInput
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Member
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.rules.pension import minimum_months
from ledger.domain.schemes import Scheme
from ledger.operations.pension_payments import pay_month
from ledger.operations.pensions import (
    ALL_RECORDED,
    CHOICES,
    PENSION,
    find_award,
    find_event,
    paid_bases,
    statutory,
)
from ledger.operations.services import Ledger
from ledger.store.queries import pension_place_of
from ledger.store.recorder import RecordedEntry
from ledger.store.tables import benefit_events, pension_awards
from ledger.store.totals import balances_of


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
    balance = -balances_of(conn, [account], ALL_RECORDED).get(account, 0)
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
    reached = statutory(ledger, member, on, category).date.year
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
