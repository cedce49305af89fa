"""The auditor's queries, as SQLAlchemy Core (rows and small records, no ORM objects).

One place to import them from. Balances on two time axes (``balance``, ``trial_balance``,
``pooling_by_region``) live in ``ledger.store.totals`` and a member's statement in
``ledger.store.statements``, re-exported here; this module adds the contribution months
that count toward the minimum years and the 10-year rule, where a member's pension
relationship is and their departures, the affiliated (agency) arrangements auditors must
be able to list, account search and the entries' pages.

Amounts are integer fen, debit positive, credit negative; months are ``YYYY-MM`` text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, distinct, func, select, text

from ledger.domain import keys
from ledger.domain.errors import UnknownMember
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.rules.transfer import PensionPlace, Stint, pension_place
from ledger.store.balances import balance, known_cutoff, utc
from ledger.store.statements import (
    Holding,
    PaymentBought,
    StatementLine,
    escape_like,
    holdings,
    member_accounts,
    payments_bought,
    statement,
)
from ledger.store.tables import (
    TRANSFER_STEPS,
    accounts,
    enrolments,
    entries,
    members,
    postings,
    temporary_accounts,
)
from ledger.store.totals import account_balances, pooling_by_region, trial_balance

__all__ = [
    "AffiliatedArrangement",
    "ContributionMonths",
    "Holding",
    "PaymentBought",
    "StatementLine",
    "account_balances",
    "affiliated_arrangements",
    "balance",
    "contribution_months",
    "holdings",
    "known_cutoff",
    "member_accounts",
    "payments_bought",
    "pooling_by_region",
    "statement",
    "trial_balance",
]


@dataclass(frozen=True, slots=True)
class ContributionMonths:
    """How many distinct months a member has paid into a scheme in a region, and the span.

    ``region`` is where the months were paid (the 10-year rule counts there); ``held_in``
    is the region whose books carry them now: the months follow the member through every
    accepted transfer (a transfer returned or still in transit moves nothing).
    """

    member_id: str
    scheme: str
    region: str
    months: int
    first: str
    last: str
    held_in: str


def contribution_months(conn: Connection, member_id: str | None = None) -> list[ContributionMonths]:
    """Distinct paid months per member, scheme and region, from ``contribution`` entries.

    What counts toward the minimum years (180 months, rising to 240) and, per region, the
    10-year rule of transfers. A corrected contribution still counts here: a correction
    entry adjusts money, it does not un-pay a month. Sorted by member, scheme, region.
    """
    query = (
        select(
            entries.c.member_id,
            entries.c.scheme,
            entries.c.region,
            func.count(distinct(entries.c.period)),
            func.min(entries.c.period),
            func.max(entries.c.period),
        )
        .where(entries.c.kind == EntryKind.CONTRIBUTION.value, entries.c.member_id.is_not(None))
        .group_by(entries.c.member_id, entries.c.scheme, entries.c.region)
        .order_by(entries.c.member_id, entries.c.scheme, entries.c.region)
    )
    if member_id is not None:
        query = query.where(entries.c.member_id == member_id)
    moves = _accepted_moves(conn, member_id)
    found = []
    for member, scheme, region, count, first, last in conn.execute(query):
        holder = region
        for from_region, to_region in moves.get((member, scheme), ()):
            if from_region == holder:
                holder = to_region
        found.append(ContributionMonths(member, scheme, region, count, first, last, holder))
    return found


def pension_place_of(conn: Connection, member_id: str, policy: PolicySet) -> PensionPlace | None:
    """Where the member's pension would be paid today (国办发〔2009〕66号 Art. 6; DOMAIN.md §5).

    The stints are the member's paid pension months in period order, a new stint at each
    change of region; the relationship is now where the last paid months are held (they
    follow accepted transfers), a stint of 0 months if nothing is paid there yet. None
    when the member has paid no pension month. Months paid into a temporary account
    (members who moved at ≥ 50 / ≥ 40 outside the hukou province, 66号 Art. 5 (2):
    ``temporary_accounts``) make no stint: the relationship stayed where it was.
    """
    member = conn.execute(select(members.c.hukou).where(members.c.id == member_id)).first()
    periods = conn.execute(
        select(entries.c.period, entries.c.region)
        .where(
            entries.c.member_id == member_id,
            entries.c.scheme == "pension",
            entries.c.kind == EntryKind.CONTRIBUTION.value,
        )
        .distinct()
        .order_by(entries.c.period, entries.c.region)
    ).all()
    temporary = set(
        conn.execute(
            select(temporary_accounts.c.region).where(
                temporary_accounts.c.member_id == member_id,
                temporary_accounts.c.scheme == "pension",
            )
        ).scalars()
    )
    periods = [p for p in periods if p.region not in temporary] or periods
    if not periods:
        if member is None:
            raise UnknownMember(member_id)
        return None
    # No member row (a journal written without one): the hukou defaults, as ``add_member``
    # does, to the region the citizen ID number was issued in.
    hukou = member.hukou if member is not None else member_id[:6]
    runs: list[list[object]] = []
    for _, region in periods:
        if runs and runs[-1][0] == region:
            runs[-1][1] += 1  # type: ignore[operator]
        else:
            runs.append([region, 1])
    stints = [Stint(str(region), int(months)) for region, months in runs]  # type: ignore[call-overload]
    holder = stints[-1].region
    for from_region, to_region in _accepted_moves(conn, member_id).get((member_id, "pension"), ()):
        if from_region == holder:
            holder = to_region
    if holder != stints[-1].region:
        stints.append(Stint(holder, 0))
    return pension_place(hukou, stints, policy)


def _accepted_moves(
    conn: Connection, member_id: str | None
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(from, to) of each member's accepted transfers per scheme, in the order they left.

    A transfer's steps share the transfer id after the kind in their idempotency keys
    (``transfer-out:<id>``, ``transfer-in:<id>``); the out step's region is the source,
    the in step's the destination.
    """
    query = (
        select(
            entries.c.kind,
            entries.c.idempotency_key,
            entries.c.member_id,
            entries.c.scheme,
            entries.c.region,
        )
        .where(entries.c.kind.in_([EntryKind.TRANSFER_OUT.value, EntryKind.TRANSFER_IN.value]))
        .order_by(entries.c.effective_date, entries.c.id)
    )
    if member_id is not None:
        query = query.where(entries.c.member_id == member_id)
    sources: dict[str, str] = {}
    moves: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for kind, key, member, scheme, region in conn.execute(query):
        transfer_id = keys.transfer_of(key)
        if kind == EntryKind.TRANSFER_OUT.value:
            sources[transfer_id] = region
        elif transfer_id in sources:
            moves.setdefault((member, scheme), []).append((sources[transfer_id], region))
    return moves


@dataclass(frozen=True, slots=True)
class Departure:
    """A member's insurance in one scheme sent away from ``region`` by a transfer
    (``transfer_id``, requested ``on``, to ``to_region``) that is in transit or accepted:
    the relationship there has ended (国办发〔2009〕66号; DOMAIN.md §5)."""

    region: str
    on: date
    to_region: str
    transfer_id: str


CHUNK = 500  # ids per IN list


def departures_of(
    conn: Connection, ids: Sequence[str], scheme: str
) -> dict[str, dict[str, Departure]]:
    """Each member's regions left in ``scheme``, by region: the places a payment is refused.

    Read from the transfer steps in journal order: a ``transfer-out`` leaves its source, a
    ``transfer-return`` (rejected, timed out) undoes its own departure, and a ``transfer-in``
    to a region left before brings the member back there. Members with no departure are
    absent. A few queries for a batch (``CHUNK`` ids per ``IN``), each a few probes of the
    partial index ``ix_entries_transfers``, whose predicate is written out literally here
    (bound kinds would not let SQLite prove that the index applies).
    """
    unique = sorted(set(ids))
    found: dict[str, dict[str, Departure]] = {}
    for start in range(0, len(unique), CHUNK):
        rows = conn.execute(
            select(
                entries.c.member_id,
                entries.c.kind,
                entries.c.idempotency_key,
                entries.c.region,
                entries.c.effective_date,
            )
            .where(
                entries.c.member_id.in_(unique[start : start + CHUNK]),
                entries.c.scheme == scheme,
                text(f"entries.{TRANSFER_STEPS}"),
            )
            .order_by(entries.c.member_id, entries.c.id)
        ).all()
        for member, kind, key, region, on in rows:
            left = found.setdefault(member, {})
            transfer_id = keys.transfer_of(key)
            if kind == EntryKind.TRANSFER_OUT.value:
                to_region = keys.transfer_destination(transfer_id)
                left[region] = Departure(region, on, to_region, transfer_id)
            elif kind == EntryKind.TRANSFER_RETURN.value:
                gone = [r for r, d in left.items() if d.transfer_id == transfer_id]
                for r in gone:
                    del left[r]
            else:
                left.pop(region, None)
    return {m: left for m, left in found.items() if left}


@dataclass(frozen=True, slots=True)
class AffiliatedArrangement:
    """A member paying through an HR company (method ``agency``) over a span of months.

    ``to_month`` is the last month the enrolment was in force: its own end, or the month
    before a later enrolment of the same member and scheme superseded it (None: open).
    """

    member_id: str
    scheme: str
    region: str
    agency: str
    from_month: str
    to_month: str | None
    recorded_at: datetime


def affiliated_arrangements(conn: Connection) -> list[AffiliatedArrangement]:
    """Every agency enrolment that was in force for at least one month, by member and month.

    Enrolments are append-only; the one in force for a month is the latest (by from month,
    then id) that starts by then, as ``Ledger.enrolment_for`` reads them. Paying through a
    company that does not employ you is illegal (社会保险基金行政监督办法), hence this list.
    """
    with_agency = select(enrolments.c.member_id).where(enrolments.c.method == "agency")
    rows = conn.execute(
        select(enrolments)
        .where(enrolments.c.member_id.in_(with_agency))
        .order_by(
            enrolments.c.member_id, enrolments.c.scheme, enrolments.c.from_month, enrolments.c.id
        )
    ).all()
    found = []
    for index, row in enumerate(rows):
        if row.method != "agency":
            continue
        after = rows[index + 1] if index + 1 < len(rows) else None
        to_month = row.to_month
        if after is not None and (after.member_id, after.scheme) == (row.member_id, row.scheme):
            if after.from_month == row.from_month:
                continue  # superseded from its first month: never in force
            before_next = str(Month.parse(after.from_month) + -1)
            to_month = before_next if to_month is None else min(to_month, before_next)
        found.append(
            AffiliatedArrangement(
                member_id=row.member_id,
                scheme=row.scheme,
                region=row.region,
                agency=row.agency or "",
                from_month=row.from_month,
                to_month=to_month,
                recorded_at=utc(row.recorded_at),
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class AccountRow:
    """An account as a search lists it: its name's parts, its type and when it was opened."""

    id: int
    name: str
    type: str
    recorded_at: datetime


def find_accounts(
    conn: Connection,
    *,
    member: str | None = None,
    region: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[AccountRow]]:
    """(how many match, the page) of accounts by name, filtered on its parts.

    ``member``: the member's own accounts (``<kind>:<scheme>:<member>``); ``region``: the
    region's accounts (``<kind>:<scheme>:<region>``); ``kind``: the first part of the name.
    """
    where = []
    if member is not None:
        where.append(accounts.c.name.like(f"%:{escape_like(member)}", escape="\\"))
    if region is not None:
        where.append(accounts.c.name.like(f"%:{escape_like(region)}", escape="\\"))
    if kind is not None:
        where.append(accounts.c.name.like(f"{escape_like(kind)}:%", escape="\\"))
    total = conn.execute(select(func.count()).select_from(accounts).where(*where)).scalar_one()
    rows = conn.execute(
        select(accounts.c.id, accounts.c.name, accounts.c.type, accounts.c.recorded_at)
        .where(*where)
        .order_by(accounts.c.name)
        .limit(limit)
        .offset(offset)
    )
    return int(total), [AccountRow(r.id, r.name, r.type, utc(r.recorded_at)) for r in rows]


def entries_page(conn: Connection, after: int, limit: int) -> list[dict[str, object]]:
    """Entries with ids after ``after``, in chain order, each with its hash and postings.

    An entry's id is its position in the hash chain (ids are gapless, in recorded order):
    ``hash = sha256(prev_hash|id|recorded_at|content)``. Amounts stay in fen here.
    """
    rows = conn.execute(
        select(entries).where(entries.c.id > after).order_by(entries.c.id).limit(limit)
    ).all()
    if not rows:
        return []
    legs: dict[int, list[tuple[str, int]]] = {}
    for entry_id, name, amount in conn.execute(
        select(postings.c.entry_id, accounts.c.name, postings.c.amount_fen)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.entry_id.between(rows[0].id, rows[-1].id))
        .order_by(postings.c.entry_id, postings.c.id)
    ):
        legs.setdefault(entry_id, []).append((name, amount))
    return [
        {
            "id": row.id,
            "chain_position": row.id,
            "kind": row.kind,
            "effective_date": row.effective_date,
            "recorded_at": utc(row.recorded_at),
            "period": row.period,
            "member": row.member_id,
            "scheme": row.scheme,
            "region": row.region,
            "reason": row.reason,
            "corrects": row.corrects,
            "idempotency_key": row.idempotency_key,
            "prev_hash": row.prev_hash,
            "hash": row.hash,
            "postings": legs.get(row.id, []),
        }
        for row in rows
    ]
