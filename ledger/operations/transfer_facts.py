"""What a transfer step needs to know, read in a few queries whatever the batch's size.

``load_requests`` and ``load_steps`` read everything the deciders in
``ledger.operations.transfers`` and ``transfer_steps`` need for a batch of requests, or of
accepts and returns: enrolments, earlier transfers, the movers' ages and hukou, temporary
accounts, the months and money paid at the source, personal balances. ``Decision`` is
what a decider answers for one transfer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from ledger.domain import keys
from ledger.domain.accounts import personal, pooling
from ledger.domain.errors import LedgerError
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.rules.transfer import PaidMonth
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK, registered, temporary
from ledger.operations.bulk import enrolments_of
from ledger.operations.services import Ledger
from ledger.operations.transfer_journal import (
    Transfer,
    earlier_transfers,
    find_transfers,
    moved_in,
)
from ledger.store.tables import accounts, entries, postings
from ledger.store.totals import balances_of

TRANSFERABLE = (Scheme.PENSION, Scheme.MEDICAL)
Item = tuple[str, Scheme]
"""A member in one scheme."""
PAID_KINDS = (EntryKind.CONTRIBUTION, EntryKind.ADJUSTMENT, EntryKind.CORRECTION)
POSTINGS_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Decision:
    """One transfer's step: the entry to append, a temporary account to open instead
    (``kept_in``: where the relationship stays), the rule that refused it, or, with none
    of these, already done."""

    transfer_id: str
    draft: EntryDraft | None = None
    refused: LedgerError | None = None
    kept_in: str | None = None
    leaving: Enrolment | None = None
    """The enrolment the member leaves from: copied at the destination."""
    transfer: Transfer | None = None
    """The transfer as it stands once the step is taken (accepts and returns), or as it
    was found (a request made before)."""
    temporary: bool = False
    """The request opens (or opened) a temporary account: no transfer leaves."""

    @property
    def done(self) -> bool:
        """Already done: nothing to write."""
        return self.draft is None and self.refused is None and self.kept_in is None


def months_paid(
    conn: Connection, scheme: Scheme, on: date, wanted: Mapping[str, tuple[str, Month | None]]
) -> dict[str, int]:
    """Each member's distinct months paid by ``on`` in a region, after the month they last
    moved in there (``wanted`` as for ``paid_months``): the months a transfer moves.

    Counted from ``contribution`` entries, as ``queries.contribution_months`` counts them.
    """
    found = dict.fromkeys(wanted, 0)
    ids = sorted(wanted)
    periods: defaultdict[str, set[str]] = defaultdict(set)
    for start in range(0, len(ids), CHUNK):
        for member_id, region, period in conn.execute(
            select(entries.c.member_id, entries.c.region, entries.c.period).where(
                entries.c.member_id.in_(ids[start : start + CHUNK]),
                entries.c.scheme == scheme.value,
                entries.c.period.is_not(None),
                entries.c.period <= str(Month.of(on)),
                entries.c.effective_date <= on,
                entries.c.kind == EntryKind.CONTRIBUTION.value,
            )
        ):
            region_in, after = wanted[member_id]
            if region == region_in and (after is None or Month.parse(period) > after):
                periods[member_id].add(period)
    for member_id, seen in periods.items():
        found[member_id] = len(seen)
    return found


def paid_months(
    conn: Connection, scheme: Scheme, on: date, wanted: Mapping[str, tuple[str, Month | None]]
) -> dict[str, list[PaidMonth]]:
    """Each member's months paid in a region by ``on``: ``wanted`` maps a member to the
    region and the month they last moved in there (None: never), months up to which are
    left out (already moved with them). Base and pooling money per month.

    The base is the latest one posted for the month (an adjustment re-assesses it); the
    pooling money is the net of its contribution, adjustments and corrections. A month
    whose money was wholly reversed by a correction is left out.
    """
    found: dict[str, list[PaidMonth]] = {m: [] for m in wanted}
    if not wanted:
        return found
    ids = sorted(wanted)
    # From the members' entries (ix_entries_member_period), never from a region's pooling
    # account, which holds everyone's postings; the region is checked here.
    paid: dict[int, tuple[str, str, int | None]] = {}
    for start in range(0, len(ids), CHUNK):
        for row in conn.execute(
            select(
                entries.c.id,
                entries.c.member_id,
                entries.c.region,
                entries.c.period,
                entries.c.base_fen,
            ).where(
                entries.c.member_id.in_(ids[start : start + CHUNK]),
                entries.c.scheme == scheme.value,
                entries.c.period.is_not(None),
                entries.c.period <= str(Month.of(on)),
                entries.c.effective_date <= on,
                entries.c.kind.in_([k.value for k in PAID_KINDS]),
            )
        ):
            if row.region == wanted[row.member_id][0]:
                paid[row.id] = (row.member_id, row.period, row.base_fen)
    fund = {m: pooling(scheme.value, region) for m, (region, _) in wanted.items()}
    own = {m: personal(scheme.value, m) for m in wanted}
    wanted_names = sorted(set(fund.values()) | set(own.values()))
    names: dict[int, str] = {}
    for start in range(0, len(wanted_names), CHUNK):
        for row in conn.execute(
            select(accounts.c.id, accounts.c.name).where(
                accounts.c.name.in_(wanted_names[start : start + CHUNK])
            )
        ):
            names[row.id] = row.name
    # The entries' legs by entry (ix_postings_entry), those on the member's fund and own
    # account kept here: an account filter in SQL could lead the planner to the fund's index.
    entry_ids = sorted(paid)
    base: defaultdict[str, dict[str, int]] = defaultdict(dict)
    money: defaultdict[str, defaultdict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: {"fund": 0, "own": 0})
    )
    for start in range(0, len(entry_ids), POSTINGS_CHUNK):
        for entry_id, account_id, amount_fen in conn.execute(
            select(postings.c.entry_id, postings.c.account_id, postings.c.amount_fen)
            .where(postings.c.entry_id.in_(entry_ids[start : start + POSTINGS_CHUNK]))
            .order_by(postings.c.entry_id, postings.c.id)
        ):
            member_id, period, base_fen = paid[entry_id]
            name = names.get(account_id)
            leg = "fund" if name == fund[member_id] else "own" if name == own[member_id] else None
            if leg is None:
                continue
            if base_fen is not None:
                base[member_id][period] = base_fen
            money[member_id][period][leg] -= amount_fen
    for member_id, (region, after) in wanted.items():
        bases = base[member_id]
        found[member_id] = [
            PaidMonth(Month.parse(period), region, bases[period], max(legs["fund"], 0))
            for period, legs in sorted(money[member_id].items())
            if period in bases
            and any(legs.values())
            and (after is None or Month.parse(period) > after)
        ]
    return found


# ------------------------------------------------------------------ a batch's facts


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What deciding a day's transfer requests needs (``load_requests``)."""

    today: date
    known: frozenset[str]
    """The batch's members that are registered."""
    transfers: Mapping[str, Transfer]
    """Of the batch's ids, those requested already."""
    enrolments: Mapping[Item, Sequence[Enrolment]]
    earlier: Mapping[Item, Sequence[Transfer]]
    """Every transfer each member made in the scheme, in the order they left."""
    movers: Mapping[str, temporary.Mover]
    held: Mapping[str, Mapping[str, str]]
    """The members' temporary pension accounts: region → where the relationship stays."""
    paid: Mapping[str, Sequence[PaidMonth]]
    """The pension months each member paid at the source since last moving in there."""
    months: Mapping[Item, int]
    """The distinct months paid at the source since last moving in there."""
    balances: Mapping[str, int]
    """Personal account → balance (debit positive) on the day of the requests."""


def load_requests(
    conn: Connection, transfer_ids: Sequence[str], on: date, today: date
) -> RequestFacts:
    """The facts for requesting ``transfer_ids`` on ``on``, in a few queries for the batch."""
    items: dict[str, tuple[str, Scheme, str]] = {}
    for tid in transfer_ids:
        try:
            member_id, scheme, to_region, _ = keys.transfer_parts(tid)
        except LedgerError:
            continue
        if scheme in TRANSFERABLE:
            items[tid] = (member_id, scheme, to_region)
    members = sorted({m for m, _, _ in items.values()})
    transfers = find_transfers(conn, list(items))
    enrolled: dict[Item, Sequence[Enrolment]] = {}
    for scheme in TRANSFERABLE:
        ids = [m for m, s, _ in items.values() if s is scheme]
        if ids:
            for member_id, rows in enrolments_of(conn, ids, scheme).items():
                enrolled[(member_id, scheme)] = rows
    earlier = earlier_transfers(conn, members) if members else {}
    # Where each member would leave from, and since when the months there are theirs to send.
    wanted: dict[Scheme, dict[str, tuple[str, Month | None]]] = {s: {} for s in TRANSFERABLE}
    for tid, (member_id, scheme, to_region) in items.items():
        enrolment = Ledger.enrolment_for(enrolled.get((member_id, scheme), ()), Month.of(on))
        if tid in transfers or enrolment is None or enrolment.region == to_region:
            continue
        source = enrolment.region
        wanted[scheme][member_id] = (source, moved_in(earlier.get((member_id, scheme), ()), source))
    movers = sorted(wanted[Scheme.PENSION])
    return RequestFacts(
        today=today,
        known=frozenset(registered(conn, members)) if members else frozenset(),
        transfers=transfers,
        enrolments=enrolled,
        earlier=earlier,
        movers=temporary.movers_of(conn, movers) if movers else {},
        held=temporary.held_of(conn, movers) if movers else {},
        paid=paid_months(conn, Scheme.PENSION, on, wanted[Scheme.PENSION]),
        months={
            (member_id, scheme): count
            for scheme in TRANSFERABLE
            for member_id, count in months_paid(conn, scheme, on, wanted[scheme]).items()
        },
        balances=balances_of(
            conn, [personal(s.value, m) for s in TRANSFERABLE for m in sorted(wanted[s])], on
        ),
    )


@dataclass(frozen=True, slots=True)
class StepFacts:
    """What deciding a day's accepts and returns needs (``load_steps``)."""

    transfers: Mapping[str, Transfer]
    """Of the batch's ids, those that left the source, with their status."""
    enrolments: Mapping[Item, Sequence[Enrolment]]
    """The movers' enrolments in the transfers' schemes (an acceptance enrols them)."""


def load_steps(conn: Connection, transfer_ids: Sequence[str]) -> StepFacts:
    """The facts for accepting or returning ``transfer_ids``, in a few queries."""
    transfers = find_transfers(conn, transfer_ids)
    enrolled: dict[Item, Sequence[Enrolment]] = {}
    for scheme in TRANSFERABLE:
        ids = [t.member_id for t in transfers.values() if t.scheme is scheme]
        if ids:
            for member_id, rows in enrolments_of(conn, ids, scheme).items():
                enrolled[(member_id, scheme)] = rows
    return StepFacts(transfers, enrolled)
