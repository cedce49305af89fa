"""Deaths: one path for one member and for a simulated year's hundreds.

A death is a ``death`` row in ``benefit_events`` (one per member); the pension is paid
through the month of death, none after: the month's payment is drafted now if it is not
recorded yet (``pension_payments``), and then each personal account left, the employee
pension's and the residents', is owed to the heirs (Social Insurance Law Art. 14;
applying it to the residents' account is this ledger's reading): an ``inheritance`` entry
to ``heirs:<scheme>:<member>`` of what the account holds once that month is paid.

``load`` reads a batch's facts in a few queries (a member's pension place one query each),
``decide`` is pure, ``record`` writes the events and appends once; ``record_death`` is a
batch of one. The same death again is already done; another date is refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, insert, select

from ledger.domain import keys
from ledger.domain.accounts import heirs, personal
from ledger.domain.errors import AlreadyRecorded, BadInput, LedgerError, UnknownMember
from ledger.domain.identity import parse_citizen_id
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Member
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy.loader import PolicySet
from ledger.operations import CHUNK, pension_payments
from ledger.operations.bulk import citizen_number, members_of
from ledger.operations.pensions import ALL_RECORDED
from ledger.operations.services import Ledger
from ledger.store.queries import pension_place_of
from ledger.store.recorder import RecordedEntry
from ledger.store.tables import benefit_events
from ledger.store.totals import balances_of

PENSION = pension_payments.PENSION
RESIDENT = pension_payments.RESIDENT
DETAIL = "died: pension stops after this month"


@dataclass(frozen=True, slots=True)
class Facts:
    """What recording a batch of deaths needs to know (``load``)."""

    today: date
    members: Mapping[str, Member]
    recorded: Mapping[str, date]
    """Deaths recorded before, by member."""
    payments: Mapping[Month, pension_payments.Facts]
    """What paying each month of death needs."""
    balances: Mapping[str, int]
    """Personal accounts (both pension schemes), debit positive, everything recorded."""
    places: Mapping[str, str]
    """The region the member's employee pension is paid in (where it is held)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One death: recorded now (``new``) with the entries to append, refused, or neither
    (recorded before on the same day: already done)."""

    member_id: str
    on: date
    drafts: tuple[EntryDraft, ...] = ()
    refused: LedgerError | None = None
    new: bool = False


def load(ledger: Ledger, conn: Connection, deaths: Sequence[tuple[str, date]]) -> Facts:
    """The facts ``decide`` needs for ``deaths`` ((member, day of death) pairs)."""
    today = ledger.clock.now().date()
    ids = sorted({n for text, _ in deaths if (n := citizen_number(text, today)) is not None})
    found = members_of(conn, ids)
    recorded: dict[str, date] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for row in conn.execute(
            select(benefit_events.c.member_id, benefit_events.c.on_date).where(
                benefit_events.c.kind == "death", benefit_events.c.member_id.in_(chunk)
            )
        ):
            recorded[row.member_id] = row.on_date
    by_month: defaultdict[Month, set[str]] = defaultdict(set)
    for text, on in deaths:
        number = citizen_number(text, today)
        if number in found and number not in recorded:
            by_month[Month.of(on)].add(number)
    dying = sorted(set().union(*by_month.values())) if by_month else []
    accounts = [personal(scheme, m) for m in dying for scheme in (PENSION, RESIDENT)]
    places = {}
    for member_id in dying:
        place = pension_place_of(conn, member_id, ledger.policy)
        places[member_id] = place.region if place is not None else found[member_id].region
    return Facts(
        today=today,
        members=found,
        recorded=recorded,
        payments={
            month: pension_payments.load(conn, pension_payments.items_of(sorted(who)), month)
            for month, who in by_month.items()
        },
        balances=balances_of(conn, accounts, ALL_RECORDED) if accounts else {},
        places=places,
    )


def decide(policy: PolicySet, facts: Facts, deaths: Sequence[tuple[str, date]]) -> list[Decision]:
    """Each death's decision, in order, with no I/O. Refused, in this order of precedence:

    1. the member is a valid citizen number (``InvalidCitizenId`` on ``member``), registered
       (``UnknownMember``);
    2. the day is not in the future, nor before the member's birth (``BadInput`` on ``on``);
    3. no death of the member is recorded on another day, in the ledger or earlier in the
       batch (``AlreadyRecorded`` on ``on``); recorded on the same day: already done.

    Then the month of death's pensions not paid yet are drafted (``pension_payments``),
    and an ``inheritance`` of each personal account not empty once they are paid.
    """
    decisions: list[Decision] = []
    seen: dict[str, date] = {}
    for text, on in deaths:
        try:
            decisions.append(_death(policy, facts, text, on, seen))
        except LedgerError as refusal:
            decisions.append(Decision(text, on, refused=refusal))
    return decisions


def _death(policy: PolicySet, facts: Facts, text: str, on: date, seen: dict[str, date]) -> Decision:
    number = parse_citizen_id(text, today=facts.today, field="member").number
    member = facts.members.get(number)
    if member is None:
        raise UnknownMember(number)
    if on > facts.today:
        raise BadInput("on", f"{on} is in the future")
    if on < member.birth_date:
        raise BadInput("on", f"{on} is before the member's birth on {member.birth_date}")
    before = facts.recorded.get(number) or seen.get(number)
    if before is not None:
        if before != on:
            raise AlreadyRecorded("on", f"{number}: death already recorded ({before})")
        return Decision(number, on)
    seen[number] = on
    month = Month.of(on)
    paying = pension_payments.decide(
        policy, facts.payments[month], pension_payments.items_of([number]), on, facts.today
    )
    drafts = [d for one in paying for d in one.drafts]
    for one in paying:
        if one.refused is not None:
            raise one.refused
    why = f"died {on}: the personal account left is owed to the heirs (Social Insurance Law "
    why += "Art. 14)"
    for scheme, region in ((PENSION, facts.places[number]), (RESIDENT, member.region)):
        account = personal(scheme, number)
        after = facts.balances.get(account, 0) + sum(
            p.amount_fen for d in drafts for p in d.postings if p.account == account
        )
        held = -after
        if held == 0:
            continue
        drafts.append(
            EntryDraft.build(
                kind=EntryKind.INHERITANCE,
                effective_date=on,
                idempotency_key=keys.inheritance(scheme, number),
                reason=f"{why}: {format_yuan(held)}",
                member_id=number,
                scheme=scheme,
                region=region,
                postings=[(account, held), (heirs(scheme, number), -held)],
            )
        )
    return Decision(number, on, tuple(drafts), new=True)


def record(
    ledger: Ledger, conn: Connection, deaths: Sequence[tuple[str, date]]
) -> list[tuple[Decision, tuple[RecordedEntry, ...]]]:
    """Record each death: load, decide, write the new deaths' events, append once. Each
    decision with the entries written for it."""
    decisions = decide(ledger.policy, load(ledger, conn, deaths), deaths)
    new = [d for d in decisions if d.new]
    if new:
        now = ledger.clock.now()
        conn.execute(
            insert(benefit_events),
            [
                {
                    "member_id": d.member_id,
                    "kind": "death",
                    "on_date": d.on,
                    "choice": None,
                    "detail": DETAIL,
                    "recorded_at": now,
                }
                for d in new
            ],
        )
    written = iter(ledger.recorder.append(conn, [x for d in decisions for x in d.drafts]))
    return [(d, tuple(next(written) for _ in d.drafts)) for d in decisions]


def record_death(ledger: Ledger, conn: Connection, member_id: str, on: date) -> list[RecordedEntry]:
    """Record one death (a batch of one): the entries written now, the month of death's
    pension first if it was not paid, then the inheritances; a refusal is raised."""
    [(decision, written)] = record(ledger, conn, [(member_id, on)])
    if decision.refused is not None:
        raise decision.refused
    return list(written)
