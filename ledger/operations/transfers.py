"""Transfers between regions (国办发〔2009〕66号, DOMAIN.md §5): out, in transit, in or returned.

A transfer is three possible entries, one per step, each keyed by the transfer id:

- ``transfer-out:<id>`` (status ``out``): the source sends the member's whole personal
  balance and, for the pension, 12% of each year's base since 1998 paid there
  (``ledger.domain.rules.transfer.transfer_out``): debit ``personal:<scheme>:<member>`` and
  ``pooling:<scheme>:<from>``, credit ``transit:<scheme>`` by the sum;
- ``transfer-in:<id>`` (status ``in``): the destination accepts: debit the transit account,
  credit the personal account and ``pooling:<scheme>:<to>``; the member is enrolled there from
  the month of acceptance with the same base choice and method;
- ``transfer-return:<id>`` (status ``returned``): rejected or timed out: debit transit,
  credit the source's personal account and pooling fund back.

Once the ``transfer-out`` is written, the source takes no more payments from the member in
the scheme (``MonthMovedWithTransfer``, from ``departures_of``, checked by
``Ledger.contribution_drafts`` on every payment path): the relationship there ended with the
transfer (国办发〔2009〕66号), and a month paid there afterwards would be counted where the
months went while its money stayed behind. A return (rejected, timed out) restores the
source; a later transfer back in to the source reopens it.

Invariants: a transfer's transit money is zero once it is ``in`` or ``returned``; ``in`` and
``returned`` exclude each other; a step on a transfer in the wrong state is refused
(``TransferStateError``, naming the state); a step already taken writes nothing. The id is
``<member>-<scheme>-<to>-<YYYYMMDD>``: the same request gives the same id, and the id says
where the money goes, so the journal alone records a transfer (no table of its own).
Medical transfers move the personal balance only (医保办发〔2021〕43号), and the months
whatever the balance (DOMAIN.md §5: the years are added up at the new place): an empty
medical account with months paid at the source still transfers, as an entry whose legs
are zero (``EntryDraft.build(keep_zero_legs=True)``); its months then count as held at
the destination once accepted.

A day's requests and accepts also go in one pass (``request_batch``, ``accept_batch``: a
few statements for the batch and one append, where one by one each reads the member's
history in a dozen): the same entries in the same order, and whatever they cannot simply
write (a refusal, a step already taken) is left to the one-by-one functions, which say why.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from sqlalchemy import Connection, Row, select

from ledger.domain import keys
from ledger.domain.accounts import personal, pooling, transit
from ledger.domain.errors import (
    BadInput,
    LedgerError,
    NotEnrolled,
    TransferStateError,
    UnknownAccount,
)
from ledger.domain.identity import parse_citizen_id
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.rules.transfer import PaidMonth, transfer_out
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK, recorded_keys, registered, temporary
from ledger.operations.bulk import enrolments_of
from ledger.operations.services import Ledger
from ledger.store.balances import balance
from ledger.store.tables import accounts, entries, postings
from ledger.store.totals import balances_of

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


def request_transfer(
    ledger: Ledger, conn: Connection, member_id: str, scheme: Scheme, to_region: str, on: date
) -> str:
    """Send the member's money from the region enrolled on ``on`` to ``to_region``; the id."""
    if scheme not in (Scheme.PENSION, Scheme.MEDICAL):
        raise BadInput("scheme", f"{scheme} is not transferred between regions here")
    member = ledger.member(conn, member_id)
    ledger.policy.region(to_region)
    if on > ledger.clock.now().date():
        raise BadInput("on", f"{on} is in the future")
    transfer_id = keys.transfer_id(member.id, scheme, to_region, on)
    if find_transfer(conn, transfer_id) is not None:
        return transfer_id
    enrolment = ledger.enrolment_for(ledger.enrolments(conn, member.id, scheme), Month.of(on))
    if enrolment is None:
        raise NotEnrolled("member", f"{member.id} has no {scheme} enrolment in force on {on}")
    source = enrolment.region
    if source == to_region:
        raise BadInput("to", f"{member.id} is already enrolled in {to_region}")
    if scheme is Scheme.PENSION:
        kept = temporary.needing(ledger, conn, {transfer_id: (member.id, source, to_region)}, on)
        if kept:  # 66号 Art. 5 (2): no money moves, a temporary account opens there
            temporary.open_temporary(
                ledger, conn, member.id, enrolment, to_region, kept[transfer_id], on
            )
            return transfer_id
    moved_before = _moved_before(member_transfers(conn, member.id, scheme), source)
    paid = []
    if scheme is Scheme.PENSION:
        paid = paid_months(conn, scheme, on, {member.id: (source, moved_before)})[member.id]
    months = months_paid(conn, scheme, on, {member.id: (source, moved_before)})[member.id]
    personal_fen = -_balance(conn, personal(scheme.value, member.id), on)
    draft = _out_draft(
        ledger, transfer_id, member.id, scheme, source, to_region, on, paid, personal_fen, months
    )
    ledger.recorder.append(conn, [draft])
    return transfer_id


def request_batch(
    ledger: Ledger, conn: Connection, transfer_ids: Sequence[str], on: date
) -> tuple[list[str], list[str]]:
    """``request_transfer`` for many transfers of one day: a few queries and one append.

    Returns the ids requested, in the given order, and the ids left for
    ``request_transfer`` one at a time: every one whose request would not simply write its
    entry (refused, already requested, one of two of a member's in the same scheme), so
    that the per-transfer path says why, exactly as if there were no batch. The entries
    are the very ones ``request_transfer`` would write, in the same order.
    """
    if on > ledger.clock.now().date():
        return [], list(transfer_ids)
    today = ledger.clock.now().date()
    left: list[str] = []
    wanted: dict[str, tuple[str, Scheme, str]] = {}
    pairs: Counter[tuple[str, Scheme]] = Counter()
    for tid in transfer_ids:
        try:
            member_id, scheme, to_region, _ = keys.transfer_parts(tid)
            ledger.policy.region(to_region)
            same = parse_citizen_id(member_id, today=today, field="member").number == member_id
        except LedgerError:
            left.append(tid)
            continue
        if (
            not same
            or scheme not in (Scheme.PENSION, Scheme.MEDICAL)
            or keys.transfer_id(member_id, scheme, to_region, on) != tid
        ):
            left.append(tid)
            continue
        wanted[tid] = (member_id, scheme, to_region)
        pairs[(member_id, scheme)] += 1
    known = registered(conn, [m for m, _, _ in wanted.values()])
    out_key = {tid: keys.transfer_step(keys.TRANSFER_OUT, tid) for tid in wanted}
    requested = recorded_keys(conn, list(out_key.values()))
    earlier = _earlier_transfers(conn, sorted({m for m, _, _ in wanted.values()}))
    sources: dict[str, str] = {}
    moved: dict[str, Month | None] = {}
    for scheme in (Scheme.PENSION, Scheme.MEDICAL):
        mine = {t: w for t, w in wanted.items() if w[1] is scheme}
        enrolled = enrolments_of(conn, [m for m, _, _ in mine.values()], scheme)
        for tid, (member_id, _, to_region) in mine.items():
            enrolment = ledger.enrolment_for(enrolled.get(member_id, []), Month.of(on))
            if (
                member_id not in known
                or out_key[tid] in requested
                or pairs[(member_id, scheme)] > 1
                or enrolment is None
                or enrolment.region == to_region
            ):
                continue
            try:
                moved[tid] = _moved_before(earlier.get((member_id, scheme), []), enrolment.region)
            except TransferStateError:
                continue
            sources[tid] = enrolment.region
    for tid in temporary.needing(
        ledger,
        conn,
        {  # opened one by one, as request_transfer
            t: (wanted[t][0], source, wanted[t][2])
            for t, source in sources.items()
            if wanted[t][1] is Scheme.PENSION
        },
        on,
    ):
        del sources[tid]
    paid = paid_months(
        conn,
        Scheme.PENSION,
        on,
        {
            wanted[tid][0]: (source, moved[tid])
            for tid, source in sources.items()
            if wanted[tid][1] is Scheme.PENSION
        },
    )
    months: dict[Scheme, dict[str, int]] = {
        scheme: months_paid(
            conn,
            scheme,
            on,
            {
                wanted[tid][0]: (source, moved[tid])
                for tid, source in sources.items()
                if wanted[tid][1] is scheme
            },
        )
        for scheme in (Scheme.PENSION, Scheme.MEDICAL)
    }
    held = balances_of(conn, [personal(wanted[t][1].value, wanted[t][0]) for t in sources], on)
    drafts: list[EntryDraft] = []
    done: list[str] = []
    for tid in transfer_ids:
        if tid not in sources:
            if tid in wanted:
                left.append(tid)
            continue
        member_id, scheme, to_region = wanted[tid]
        personal_fen = -held.get(personal(scheme.value, member_id), 0)
        try:
            drafts.append(
                _out_draft(
                    ledger,
                    tid,
                    member_id,
                    scheme,
                    sources[tid],
                    to_region,
                    on,
                    paid.get(member_id, []),
                    personal_fen,
                    months[scheme].get(member_id, 0),
                )
            )
        except LedgerError:
            left.append(tid)
            continue
        done.append(tid)
    ledger.recorder.append(conn, drafts)
    return done, left


def _out_draft(
    ledger: Ledger,
    transfer_id: str,
    member_id: str,
    scheme: Scheme,
    source: str,
    to_region: str,
    on: date,
    paid: list[PaidMonth],
    personal_fen: int,
    months: int,
) -> EntryDraft:
    """The ``transfer-out`` entry, from what the ledger holds (``paid``: pension only;
    ``months``: the months paid at the source since the member last moved in there)."""
    if personal_fen < 0:
        raise BadInput("member", f"personal balance {format_yuan(personal_fen)} is negative")
    pooling_fen, how = 0, "medical: personal account only"
    if scheme is Scheme.PENSION:
        out = transfer_out(paid, source, personal_fen, on, ledger.policy)
        pooling_fen = out.pooling_moved_fen
        how = (
            f"{out.share_rate * 100:g}% of the bases of {sum(y.months for y in out.years)} "
            f"months since {out.counted_from} ({out.source})"
        )
    if personal_fen == 0 and pooling_fen == 0 and months == 0:
        raise BadInput("member", f"{member_id} has nothing to transfer from {source} on {on}")
    if personal_fen == 0 and pooling_fen == 0:
        how += f"; no money, {months} months paid there move (DOMAIN.md §5)"
    return EntryDraft.build(
        kind=EntryKind.TRANSFER_OUT,
        effective_date=on,
        idempotency_key=keys.transfer_step(keys.TRANSFER_OUT, transfer_id),
        reason=f"transfer {transfer_id}: {source} → {to_region}; personal "
        f"{format_yuan(personal_fen)} whole, pooling {format_yuan(pooling_fen)} = {how}",
        member_id=member_id,
        scheme=scheme.value,
        region=source,
        postings=[
            (personal(scheme.value, member_id), personal_fen),
            (pooling(scheme.value, source), pooling_fen),
            (transit(scheme.value), -(personal_fen + pooling_fen)),
        ],
        keep_zero_legs=personal_fen == 0 and pooling_fen == 0,
    )


def _moved_before(earlier: Iterable[Transfer], source: str) -> Month | None:
    """The month the member last moved in to ``source``, refusing while one is in transit."""
    earlier = list(earlier)
    for other in earlier:
        if other.status is TransferStatus.OUT:
            raise TransferStateError(
                "member", f"transfer {other.transfer_id} is still in transit (status out)"
            )
    return max(
        (
            Month.of(t.on)
            for t in earlier
            if t.from_region == source and t.status is TransferStatus.IN
        ),
        default=None,
    )


def _earlier_transfers(
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


def accept_transfer(ledger: Ledger, conn: Connection, transfer_id: str, on: date) -> Transfer:
    """The destination takes the money in and enrols the member from the month of ``on``."""
    found = _in_transit(conn, transfer_id, "accept", TransferStatus.IN, on)
    if found.status is TransferStatus.IN:
        return found
    [recorded] = ledger.recorder.append(conn, [_in_draft(found, on)])
    if recorded.created:  # a racing acceptance that lost has nothing left to enrol
        _enrol_at_destination(ledger, conn, found, _enrolled_before(ledger, conn, found), on)
    return _status(found, TransferStatus.IN)


def accept_batch(
    ledger: Ledger, conn: Connection, transfer_ids: Sequence[str], on: date
) -> tuple[list[str], list[str]]:
    """``accept_transfer`` for many transfers of one day: a few queries and one append.

    Returns the ids accepted, in the given order, and the ids left for ``accept_transfer``
    one at a time: every one that is not simply in transit, or whose enrolment at the
    destination would be refused (``Ledger.check_enrolment``), so that the per-transfer
    path accepts or rejects it as if there were no batch. The entries and enrolments
    are the very ones ``accept_transfer`` would write, in the same order.
    """
    found = find_transfers(conn, transfer_ids)
    pairs = Counter((t.member_id, t.scheme) for t in found.values())
    enrolled: dict[tuple[str, Scheme], list[Enrolment]] = {}
    for scheme in (Scheme.PENSION, Scheme.MEDICAL):
        ids = [t.member_id for t in found.values() if t.scheme is scheme]
        for member_id, rows in enrolments_of(conn, ids, scheme).items():
            enrolled[(member_id, scheme)] = rows
    left: list[str] = []
    taken: list[tuple[Transfer, Enrolment]] = []
    for tid in transfer_ids:
        transfer = found.get(tid)
        if (
            transfer is None
            or transfer.status is not TransferStatus.OUT
            or on < transfer.on
            or pairs[(transfer.member_id, transfer.scheme)] > 1
        ):
            left.append(tid)
            continue
        rows = enrolled.get((transfer.member_id, transfer.scheme), [])
        before = ledger.enrolment_for(rows, Month.of(transfer.on))
        try:
            if before is None:
                raise NotEnrolled("member", f"{transfer.member_id} left from no enrolment")
            ledger.check_enrolment(
                transfer.scheme,
                transfer.to_region,
                before.choice,
                Month.of(on),
                before.method,
                before.agency,
            )
        except LedgerError:
            left.append(tid)
            continue
        taken.append((transfer, before))
    recorded = ledger.recorder.append(conn, [_in_draft(t, on) for t, _ in taken])
    for (transfer, before), entry in zip(taken, recorded, strict=True):
        if entry.created:
            _enrol_at_destination(ledger, conn, transfer, before, on)
    return [t.transfer_id for t, _ in taken], left


def _in_draft(found: Transfer, on: date) -> EntryDraft:
    scheme = found.scheme.value
    return EntryDraft.build(
        kind=EntryKind.TRANSFER_IN,
        effective_date=on,
        idempotency_key=keys.transfer_step(keys.TRANSFER_IN, found.transfer_id),
        reason=f"transfer {found.transfer_id}: accepted in {found.to_region}",
        member_id=found.member_id,
        scheme=scheme,
        region=found.to_region,
        postings=[
            (transit(scheme), found.personal_fen + found.pooling_fen),
            (personal(scheme, found.member_id), -found.personal_fen),
            (pooling(scheme, found.to_region), -found.pooling_fen),
        ],
        keep_zero_legs=found.personal_fen == 0 and found.pooling_fen == 0,
    )


def _enrolled_before(ledger: Ledger, conn: Connection, found: Transfer) -> Enrolment:
    before = ledger.enrolment_for(
        ledger.enrolments(conn, found.member_id, found.scheme), Month.of(found.on)
    )
    assert before is not None, "a transfer leaves from an enrolment in force"
    return before


def _enrol_at_destination(
    ledger: Ledger, conn: Connection, found: Transfer, before: Enrolment, on: date
) -> None:
    """Enrolled where the money went from the month of ``on``, as the member was: the
    month of acceptance is paid at the destination, the source taking none after the
    transfer left."""
    ledger.enroll(
        conn,
        found.member_id,
        found.scheme,
        found.to_region,
        before.choice,
        Month.of(on),
        method=before.method,
        agency=before.agency,
    )


def return_transfer(
    ledger: Ledger, conn: Connection, transfer_id: str, on: date, reason: str
) -> Transfer:
    """Send the money back to the source (rejected, or not accepted in time)."""
    if not reason.strip():
        raise BadInput("reason", "a returned transfer needs a reason")
    found = _in_transit(conn, transfer_id, "return", TransferStatus.RETURNED, on)
    if found.status is TransferStatus.RETURNED:
        return found
    scheme = found.scheme.value
    draft = EntryDraft.build(
        kind=EntryKind.TRANSFER_RETURN,
        effective_date=on,
        idempotency_key=keys.transfer_step(keys.TRANSFER_RETURN, transfer_id),
        reason=f"transfer {transfer_id} returned to {found.from_region}: {reason.strip()}",
        member_id=found.member_id,
        scheme=scheme,
        region=found.from_region,
        postings=[
            (transit(scheme), found.personal_fen + found.pooling_fen),
            (personal(scheme, found.member_id), -found.personal_fen),
            (pooling(scheme, found.from_region), -found.pooling_fen),
        ],
        keep_zero_legs=found.personal_fen == 0 and found.pooling_fen == 0,
    )
    ledger.recorder.append(conn, [draft])
    return _status(found, TransferStatus.RETURNED)


def _in_transit(
    conn: Connection, transfer_id: str, step: str, done: TransferStatus, on: date
) -> Transfer:
    """The transfer, if ``step`` may be taken (or was already: status ``done``)."""
    found = find_transfer(conn, transfer_id)
    if found is None:
        raise BadInput("transfer", f"there is no transfer {transfer_id!r}")
    if found.status not in (TransferStatus.OUT, done):
        raise TransferStateError(
            "transfer", f"cannot {step} transfer {transfer_id}: its status is {found.status}"
        )
    if found.status is TransferStatus.OUT and on < found.on:
        raise BadInput("on", f"{on} is before the transfer left on {found.on}")
    return found


def _status(found: Transfer, status: TransferStatus) -> Transfer:
    return replace(found, status=status)


def _balance(conn: Connection, account: str, on: date) -> int:
    try:
        return balance(conn, account, on)
    except UnknownAccount:
        return 0


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
