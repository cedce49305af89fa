"""What retiring a batch needs to know, read in a few queries whatever its size (a
member's pension place one query each, a member with temporary accounts one more each):
the members, awards and benefit events recorded, the pension months paid with their
bases, the personal account on the day and as recorded, the pension enrolments, the months
paid in temporary places."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from ledger.domain.accounts import personal
from ledger.domain.journal import EntryKind
from ledger.domain.members import Enrolment, Member
from ledger.domain.period import Month
from ledger.domain.rules.benefit import PaidBase
from ledger.domain.rules.transfer import PaidMonth
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK, temporary
from ledger.operations.bulk import citizen_number, enrolments_of, members_of
from ledger.operations.pensions import ALL_RECORDED, PENSION, AwardRow, award_from_row
from ledger.operations.services import Ledger
from ledger.store.queries import pension_place_of
from ledger.store.tables import benefit_events, entries, pension_awards
from ledger.store.totals import balances_of

Retirement = tuple[str, date, str | None]
"""A member (citizen number as given), the day of retirement, the category (None: by sex)."""


@dataclass(frozen=True, slots=True)
class Event:
    on: date
    choice: str | None


@dataclass(frozen=True, slots=True)
class Facts:
    """What retiring a batch needs to know (``load``)."""

    today: date
    members: Mapping[str, Member]
    awards: Mapping[str, AwardRow]
    events: Mapping[tuple[str, str], Event]
    """(member, kind) → the benefit event recorded (``death``, ``short-of-minimum``)."""
    paid: Mapping[str, Sequence[PaidBase]]
    places: Mapping[str, str]
    """Where each member's pension is paid (held), else the member's region."""
    held_on: Mapping[tuple[str, date], int]
    """The pension personal account on the retirement day, credit positive."""
    held: Mapping[str, int]
    """The pension personal account, everything recorded, credit positive."""
    enrolments: Mapping[str, Sequence[Enrolment]]
    temporary_paid: Mapping[str, Mapping[str, Sequence[PaidMonth]]]
    """Each member's temporary places → the pension months paid there."""


def load(ledger: Ledger, conn: Connection, items: Sequence[Retirement]) -> Facts:
    """The facts ``decide`` needs for ``items``."""
    today = ledger.clock.now().date()
    ids = sorted({n for text, _, _ in items if (n := citizen_number(text, today)) is not None})
    found = members_of(conn, ids)
    awards: dict[str, AwardRow] = {}
    events: dict[tuple[str, str], Event] = {}
    paid: defaultdict[str, dict[str, PaidBase]] = defaultdict(dict)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for row in conn.execute(
            select(pension_awards).where(
                pension_awards.c.member_id.in_(chunk), pension_awards.c.scheme == PENSION
            )
        ):
            awards[row.member_id] = award_from_row(row)
        for row in conn.execute(
            select(benefit_events).where(benefit_events.c.member_id.in_(chunk))
        ):
            events[(row.member_id, row.kind)] = Event(row.on_date, row.choice)
        for row in conn.execute(
            select(entries.c.member_id, entries.c.period, entries.c.region, entries.c.base_fen)
            .where(
                entries.c.member_id.in_(chunk),
                entries.c.scheme == PENSION,
                entries.c.kind.in_([EntryKind.CONTRIBUTION.value, EntryKind.ADJUSTMENT.value]),
                entries.c.period.is_not(None),
                entries.c.base_fen.is_not(None),
            )
            .order_by(entries.c.id)
        ):
            month = Month.parse(row.period)
            paid[row.member_id][row.period] = PaidBase(month, row.region, int(row.base_fen))
    known = sorted(found)
    places = {}
    for member_id in known:
        place = pension_place_of(conn, member_id, ledger.policy)
        places[member_id] = place.region if place is not None else found[member_id].region
    by_day: defaultdict[date, list[str]] = defaultdict(list)
    for text, on, _ in items:
        number = citizen_number(text, today)
        if number in found:
            by_day[on].append(personal(PENSION, number))
    held_on = {
        (name.rsplit(":", 1)[1], on): -amount
        for on, names in by_day.items()
        for name, amount in balances_of(conn, names, on).items()
    }
    everything = balances_of(conn, [personal(PENSION, m) for m in known], ALL_RECORDED)
    temporary_paid = {  # one query for who has temporary places, one more each of them
        m: temporary.paid_in_temporary_places(conn, m, regions)
        for m, regions in (temporary.held_of(conn, known) if known else {}).items()
    }
    return Facts(
        today=today,
        members=found,
        awards=awards,
        events=events,
        paid={m: sorted(months.values(), key=lambda p: p.month) for m, months in paid.items()},
        places=places,
        held_on=held_on,
        held={name.rsplit(":", 1)[1]: -amount for name, amount in everything.items()},
        enrolments=enrolments_of(conn, known, Scheme.PENSION) if known else {},
        temporary_paid=temporary_paid,
    )
