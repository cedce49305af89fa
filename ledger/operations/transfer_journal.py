"""Transfers as the journal records them: no table of their own, a ``transfer-out`` entry
keyed by the transfer id and, once settled, a ``transfer-in`` or ``transfer-return``.
``find_transfers`` reads them back as ``Transfer`` values in a few queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import Connection, Row, select

from ledger.domain import keys
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK
from ledger.store.tables import accounts, entries, postings


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
