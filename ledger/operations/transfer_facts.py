"""What a transfer step needs to know, read in a few queries whatever the batch's size.

A transfer is recorded by the journal alone (no table of its own): ``transfer-out``,
``transfer-in`` and ``transfer-return`` entries keyed by its id. ``find_transfers`` reads
them back as ``Transfer`` values; ``load_requests`` and ``load_steps`` read everything the
deciders in ``ledger.operations.transfers`` need for a batch of requests, or of accepts and
returns: enrolments, earlier transfers, the movers' ages and hukou, temporary accounts,
the months and money at the source, personal balances.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import Connection, Row, select

from ledger.domain import keys
from ledger.domain.accounts import personal, pooling
from ledger.domain.errors import LedgerError
from ledger.domain.journal import EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.rules.transfer import PaidMonth
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK, registered, temporary
from ledger.operations.bulk import enrolments_of
from ledger.operations.services import Ledger
from ledger.store.tables import accounts, entries, postings
from ledger.store.totals import balances_of

TRANSFERABLE = (Scheme.PENSION, Scheme.MEDICAL)
Item = tuple[str, Scheme]
"""A member in one scheme."""

PAID_KINDS = (EntryKind.CONTRIBUTION, EntryKind.ADJUSTMENT, EntryKind.CORRECTION)
POSTINGS_CHUNK = 2000


class TransferStatus(StrEnum):
    OUT = "out"
    IN = "in"
    RETURNED = "returned"


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as the journal records it; amounts in fen, as they left the source."""

    transfer_id: str
    member_id: str
    scheme: Scheme
    from_region: str
    to_region: str
    on: date
    status: TransferStatus
    personal_fen: int
    pooling_fen: int
    out_entry_id: int
    returned_because: str | None = None


def find_transfer(conn: Connection, transfer_id: str) -> Transfer | None:
    """The transfer named ``transfer_id`` and its status, or None if it never left the source."""
    return find_transfers(conn, [transfer_id]).get(transfer_id)


def find_transfers(conn: Connection, transfer_ids: Sequence[str]) -> dict[str, Transfer]:
    """``find_transfer`` of each id, in a few statements: the ones that left the source."""
    kinds = (keys.TRANSFER_OUT, keys.TRANSFER_IN, keys.TRANSFER_RETURN)
    step_keys = {
        keys.transfer_step(kind, tid): (kind, tid)
        for tid in transfer_ids
        if keys.is_transfer_id(tid)
        for kind in kinds
    }
    wanted = sorted(step_keys)
    steps: defaultdict[str, dict[str, Row]] = defaultdict(dict)
    for start in range(0, len(wanted), CHUNK):
        for row in conn.execute(
            select(
                entries.c.idempotency_key,
                entries.c.id,
                entries.c.member_id,
                entries.c.scheme,
                entries.c.region,
                entries.c.effective_date,
                entries.c.reason,
            ).where(entries.c.idempotency_key.in_(wanted[start : start + CHUNK]))
        ):
            kind, tid = step_keys[row.idempotency_key]
            steps[tid][kind] = row
    outs = sorted(s[keys.TRANSFER_OUT].id for s in steps.values() if keys.TRANSFER_OUT in s)
    legs: defaultdict[int, list[tuple[str, int]]] = defaultdict(list)
    for start in range(0, len(outs), CHUNK):
        for entry_id, name, amount in conn.execute(
            select(postings.c.entry_id, accounts.c.name, postings.c.amount_fen)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(postings.c.entry_id.in_(outs[start : start + CHUNK]))
        ):
            legs[entry_id].append((name, amount))
    found: dict[str, Transfer] = {}
    for tid in transfer_ids:
        mine = steps.get(tid, {})
        out = mine.get(keys.TRANSFER_OUT)
        if out is None:
            continue
        status = (
            TransferStatus.RETURNED
            if keys.TRANSFER_RETURN in mine
            else TransferStatus.IN
            if keys.TRANSFER_IN in mine
            else TransferStatus.OUT
        )
        found[tid] = Transfer(
            transfer_id=tid,
            member_id=out.member_id,
            scheme=Scheme(out.scheme),
            from_region=out.region,
            to_region=keys.transfer_destination(tid),
            on=out.effective_date,
            status=status,
            personal_fen=sum(a for n, a in legs[out.id] if n.startswith("personal:")),
            pooling_fen=sum(a for n, a in legs[out.id] if n.startswith("pooling:")),
            out_entry_id=out.id,
            returned_because=(
                mine[keys.TRANSFER_RETURN].reason if keys.TRANSFER_RETURN in mine else None
            ),
        )
    return found


def member_transfers(conn: Connection, member_id: str, scheme: Scheme) -> list[Transfer]:
    """Every transfer of the member in ``scheme``, in the order they left."""
    out_keys = (
        conn.execute(
            select(entries.c.idempotency_key)
            .where(
                entries.c.kind == EntryKind.TRANSFER_OUT.value,
                entries.c.member_id == member_id,
                entries.c.scheme == scheme.value,
            )
            .order_by(entries.c.id)
        )
        .scalars()
        .all()
    )
    ids = [keys.transfer_of(key) for key in out_keys]
    found = find_transfers(conn, ids)
    return [found[tid] for tid in ids if tid in found]


def in_transit(conn: Connection, left_by: date | None = None) -> list[str]:
    """Ids of the transfers still in transit (status ``out``) that left on or before
    ``left_by`` (default: any day), sorted."""
    query = select(entries.c.idempotency_key).where(entries.c.kind == EntryKind.TRANSFER_OUT.value)
    if left_by is not None:
        query = query.where(entries.c.effective_date <= left_by)
    out = {keys.transfer_of(key) for key in conn.execute(query).scalars()}
    settled = conn.execute(
        select(entries.c.idempotency_key).where(
            entries.c.kind.in_([EntryKind.TRANSFER_IN.value, EntryKind.TRANSFER_RETURN.value])
        )
    ).scalars()
    for key in settled:
        out.discard(keys.transfer_of(key))
    return sorted(out)


def moved_in(earlier: Iterable[Transfer], source: str) -> Month | None:
    """The month the member last moved in to ``source`` (None: never): the months up to
    it moved with them and are not the source's to send again."""
    return max(
        (
            Month.of(t.on)
            for t in earlier
            if t.from_region == source and t.status is TransferStatus.IN
        ),
        default=None,
    )


def earlier_transfers(
    conn: Connection, member_ids: Sequence[str]
) -> dict[tuple[str, Scheme], list[Transfer]]:
    """``member_transfers`` for many members at once, by member and scheme."""
    outs = []
    for start in range(0, len(member_ids), CHUNK):
        outs.extend(
            conn.execute(
                select(entries.c.idempotency_key)
                .where(
                    entries.c.kind == EntryKind.TRANSFER_OUT.value,
                    entries.c.member_id.in_(member_ids[start : start + CHUNK]),
                )
                .order_by(entries.c.id)
            ).scalars()
        )
    ids = [keys.transfer_of(key) for key in outs]
    transfers = find_transfers(conn, ids)
    found: defaultdict[tuple[str, Scheme], list[Transfer]] = defaultdict(list)
    for tid in ids:
        if tid in transfers:
            found[(transfers[tid].member_id, transfers[tid].scheme)].append(transfers[tid])
    return found


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
