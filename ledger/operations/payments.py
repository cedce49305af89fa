"""Paying months: one path for one member and for a day's thousands.

An item is a member in one scheme; a batch pays ``first``..``last`` for each item on
``paid_on`` (a member paying at the tax bureau, a simulated day's payers, a back-fill).
``load`` reads the facts of a batch in a few queries whatever its size, ``decide`` drafts
each item's entries with no I/O or refuses the item with the first rule that fails, and
``pay`` appends every draft once. ``contribute`` is a batch of one that raises its refusal.

What is recorded already is read once the drafts show their keys (one query on the
unique index): an item whose drafts are all recorded with the same content is a replay,
already done; one with a month recorded with other content is refused
(``MonthAlreadyPaid``). The new entries are then appended with no SAVEPOINT: the append
is refused only if another worker wrote one of those keys meanwhile, which raises
``WriteRaced``; the message is rolled back and done again on fresh facts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import Connection, select

from ledger.domain.errors import (
    BadInput,
    LedgerError,
    MonthAlreadyPaid,
    UnknownMember,
)
from ledger.domain.identity import parse_citizen_id
from ledger.domain.journal import EntryDraft
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK, registered
from ledger.operations.bulk import enrolments_of
from ledger.operations.services import Ledger
from ledger.store.queries import Departure, departures_of
from ledger.store.recorder import RecordedEntry
from ledger.store.tables import benefit_events

Item = tuple[str, Scheme]
"""One member paying in one scheme."""


@dataclass(frozen=True, slots=True)
class Ended:
    """A member's employee pension insurance ended by their choice at retirement age
    short of the minimum months (a refund, or a move to the residents' scheme)."""

    on: date
    choice: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What paying a batch needs to know, loaded in a few queries (``load``)."""

    enrolments: Mapping[Item, Sequence[Enrolment]]
    departed: Mapping[Item, Mapping[str, Departure]]
    ended: Mapping[str, Ended]
    unknown: frozenset[str]
    """Members of the batch that are not registered (looked for only among the items
    with no enrolment)."""
    recorded: Mapping[str, str] = field(default_factory=dict)
    """Idempotency key → fingerprint of the batch's drafts recorded already."""


@dataclass(frozen=True, slots=True)
class Decision:
    """An item's payment: the entries to append, or the rule that refused it."""

    item: Item
    drafts: tuple[EntryDraft, ...] = ()
    refused: LedgerError | None = None


@dataclass(frozen=True, slots=True)
class Paid:
    """A decision once appended: ``recorded`` holds every entry of the item, written now
    or found recorded before (a replay)."""

    decision: Decision
    recorded: tuple[RecordedEntry, ...] = ()

    @property
    def created(self) -> tuple[RecordedEntry, ...]:
        return tuple(r for r in self.recorded if r.created)


def load(conn: Connection, items: Sequence[Item]) -> Facts:
    """The facts ``decide`` needs for ``items``: enrolments, the regions left by a
    transfer, the employee pensions ended at retirement, unregistered members."""
    by_scheme: defaultdict[Scheme, list[str]] = defaultdict(list)
    for member, scheme in items:
        by_scheme[scheme].append(member)
    found: dict[Item, Sequence[Enrolment]] = {}
    departed: dict[Item, Mapping[str, Departure]] = {}
    for scheme, ids in by_scheme.items():
        for member, rows in enrolments_of(conn, ids, scheme).items():
            found[(member, scheme)] = rows
        for member, regions in departures_of(conn, ids, scheme.value).items():
            departed[(member, scheme)] = regions
    lonely = sorted({member for member, scheme in items if (member, scheme) not in found})
    unknown = frozenset(lonely) - registered(conn, lonely) if lonely else frozenset()
    return Facts(found, departed, _ended(conn, by_scheme.get(Scheme.PENSION, [])), unknown)


def _ended(conn: Connection, ids: Sequence[str]) -> dict[str, Ended]:
    wanted = sorted(set(ids))
    found: dict[str, Ended] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = conn.execute(
            select(
                benefit_events.c.member_id, benefit_events.c.on_date, benefit_events.c.choice
            ).where(
                benefit_events.c.member_id.in_(wanted[start : start + CHUNK]),
                benefit_events.c.kind == "short-of-minimum",
                benefit_events.c.choice.in_(("refund", "resident")),
            )
        )
        found.update({r.member_id: Ended(r.on_date, r.choice) for r in rows})
    return found


def decide(
    ledger: Ledger,
    facts: Facts,
    items: Sequence[Item],
    first: Month,
    last: Month,
    paid_on: date,
    cache: dict | None = None,
) -> list[Decision]:
    """Each item's decision, in order, with no I/O. The first rule that fails refuses the
    item, in this order of precedence:

    1. the member is registered (``UnknownMember``);
    2. the span: ``last`` is not before ``first``, ``paid_on`` is not in the future;
    3. then month by month, the first month that fails: it is inside an enrolment
       (``NotEnrolled``), in a region the insurance was not transferred out of
       (``MonthMovedWithTransfer``), inside its region's payment window and rhythm
       (``BackPaymentWindowClosed``, ``PaidOutsideItsMonth``);
    4. the employee pension has not ended by a refund or a move to the residents' scheme
       on or before ``paid_on`` (``BadInput`` on ``paid_on``): the enrolment ends with
       the month before the choice, and no earlier month still open is paid into an
       insurance that has ended;
    5. no month is recorded already with other content under its key
       (``MonthAlreadyPaid``).

    An item whose every draft is recorded with the same content is a replay: its drafts
    are returned and the append finds them recorded (already done).
    """
    cache = {} if cache is None else cache
    decisions = []
    for item in items:
        member, scheme = item
        try:
            if member in facts.unknown:
                raise UnknownMember(member)
            drafts = ledger.contribution_drafts(
                member,
                facts.enrolments.get(item, ()),
                scheme,
                first,
                last,
                paid_on,
                cache=cache,
                departed=facts.departed.get(item),
            )
            _refuse_ended(facts.ended.get(member), item, paid_on)
            _refuse_paid(facts, drafts)
        except LedgerError as refusal:
            decisions.append(Decision(item, refused=refusal))
        else:
            decisions.append(Decision(item, tuple(drafts)))
    return decisions


def _refuse_ended(ended: Ended | None, item: Item, paid_on: date) -> None:
    member, scheme = item
    if ended is None or scheme is not Scheme.PENSION or paid_on < ended.on:
        return
    how = "refunded" if ended.choice == "refund" else "moved to the residents' pension"
    raise BadInput(
        "paid_on",
        f"{member}'s {scheme} insurance ended on {ended.on}, short of the minimum months "
        f"({how}): nothing more is paid into it, not even an earlier month (DOMAIN.md §6)",
    )


def _refuse_paid(facts: Facts, drafts: Sequence[EntryDraft]) -> None:
    for draft in drafts:
        recorded = facts.recorded.get(draft.idempotency_key)
        if recorded is not None and recorded != draft.fingerprint():
            raise MonthAlreadyPaid(draft.member_id or "", draft.scheme or "", draft.period or "")


def pay(
    ledger: Ledger,
    conn: Connection,
    items: Sequence[Item],
    first: Month,
    last: Month,
    paid_on: date,
) -> list[Paid]:
    """Pay ``first``..``last`` on ``paid_on`` for each item: load, decide, append once
    (the module's docstring says what happens when the index refuses the append)."""
    facts = load(conn, items)
    cache: dict = {}
    decisions = decide(ledger, facts, items, first, last, paid_on, cache)
    found = ledger.recorder.recorded(conn, [d for one in decisions for d in one.drafts])
    if found:
        facts = replace(facts, recorded={key: print_ for key, (print_, _) in found.items()})
        decisions = decide(ledger, facts, items, first, last, paid_on, cache)
    fresh = [d for one in decisions for d in one.drafts if d.idempotency_key not in found]
    written = iter(ledger.recorder.append(conn, fresh))
    return [
        Paid(
            one,
            tuple(
                found[d.idempotency_key][1] if d.idempotency_key in found else next(written)
                for d in one.drafts
            ),
        )
        for one in decisions
    ]


def contribute(
    ledger: Ledger,
    conn: Connection,
    member_id: str,
    scheme: Scheme,
    first: Month,
    last: Month | None,
    paid_on: date,
) -> list[RecordedEntry]:
    """Pay ``first``..``last`` for one member: one ``contribution`` entry per month (per
    year for residents' schemes), written now or found recorded; a refusal is raised."""
    member_id = parse_citizen_id(member_id, today=ledger.clock.now().date(), field="member").number
    [paid] = pay(ledger, conn, [(member_id, scheme)], first, last or first, paid_on)
    if paid.decision.refused is not None:
        raise paid.decision.refused
    return list(paid.recorded)
