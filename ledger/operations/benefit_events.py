"""A member at retirement age short of the minimum months, and what the choice ends.

``record_short_choice``: a member at retirement age short of the minimum months (those
  of the year the statutory age was reached, NPC decision 2024-09-13) chooses explicitly,
  recorded once: ``pay-on`` (go on paying until the minimum, then retire), ``resident``
  (the personal account moves into the residents' pension, 人社部发〔2014〕17号), ``refund``
  (the insurance ends, the personal account is refunded to the member). With ``resident``
  and ``refund`` the employee pension enrolment ends with the month before the choice;
  only the pension ends: medical insurance has its own rules (DOMAIN.md §3) and goes on.

Idempotency: an event is one row per member (primary key); the same command again
returns it and writes nothing, a different one is refused naming the field; entries are
keyed ``refund:pension:<member>`` and ``scheme-change:pension:<member>``. Deaths are
``ledger.operations.deaths``.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, insert

from ledger.domain import keys
from ledger.domain.accounts import personal, refunds
from ledger.domain.errors import AlreadyRecorded, BadInput
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Member
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.rules.pension import minimum_months
from ledger.domain.schemes import Scheme
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
from ledger.store.tables import benefit_events
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
