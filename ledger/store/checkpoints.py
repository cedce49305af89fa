"""Balance checkpoints: cached sums that keep a point-in-time balance to a short index read.

A checkpoint row says: the postings of ``account_id`` with ``effective_date <= as_of`` and
``entry_id <= through_entry_id`` number ``posting_count`` and sum to ``balance_fen`` (fen,
debit positive), and the latest ``effective_date`` among the account's postings with
``entry_id <= through_entry_id`` (of any date) is ``last_date``. That set of postings can
never change — entries are append-only and a later entry, even one back-dated before
``as_of``, gets a larger id — so a checkpoint is exact for ever and may be made at any
time for any date; ``ledger.store.balances`` adds the postings it leaves out. Checkpoints
are a cache: deleting them changes no answer.

Both time axes: ``as_of`` cuts the effective dates, ``through_entry_id`` the recorded
order (entries known at T are a prefix of the chain, ``ledger.store.balances``). A
checkpoint whose ``last_date <= as_of`` holds every posting of the account up to its id:
a balance as known at a later time adds only what was recorded since.

- ``make_checkpoints``: one (as_of, through) for every large account, one GROUP BY and one
  INSERT … SELECT in the caller's transaction;
- ``make_grid``: many at once, every as_of of a list at every through id of a list (each
  as_of up to the first one past the account's ``last_date`` there, so the grid is the
  triangle a ledger recorded in date order needs), in one pass over the postings in
  recorded order. Served by it, a balance on either axis or both reads at most one step of
  each: the dates between the chosen as_of and the one asked for, the entries recorded
  between the chosen id and the known-at cutoff.

Making the same (account, as_of, through) twice writes nothing twice.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, and_, case, func, insert, literal, select

from ledger.domain.clock import Clock
from ledger.domain.errors import BadInput, CheckpointBeyondHead
from ledger.store.tables import checkpoints, entries, postings

INSERT_CHUNK = 5_000


def make_checkpoints(
    conn: Connection,
    as_of: date,
    clock: Clock,
    min_postings: int = 1000,
    *,
    through_entry_id: int | None = None,
) -> int:
    """Checkpoint every account with at least ``min_postings`` postings in the range.

    The range is ``effective_date <= as_of`` and ``entry_id <= through_entry_id`` (default:
    the last entry recorded, the usual choice; an earlier id makes a checkpoint as it could
    have been made then, which serves ``known_at`` queries). Accounts already checkpointed
    at the same (as_of, through) are skipped. Returns how many checkpoints were written.
    """
    if min_postings < 1:
        raise BadInput("min_postings", f"must be at least 1, got {min_postings}")
    head = conn.execute(select(func.max(entries.c.id))).scalar() or 0
    through = head if through_entry_id is None else through_entry_id
    if through > head:
        raise CheckpointBeyondHead(through, head)
    if through <= 0:
        return 0
    done = select(checkpoints.c.account_id).where(
        checkpoints.c.as_of == as_of, checkpoints.c.through_entry_id == through
    )
    in_range = postings.c.effective_date <= as_of
    count = func.count(case((in_range, 1)))
    sums = (
        select(
            postings.c.account_id,
            literal(as_of, checkpoints.c.as_of.type),
            literal(through, checkpoints.c.through_entry_id.type),
            func.coalesce(func.sum(case((in_range, postings.c.amount_fen))), 0),
            count,
            literal(clock.now(), checkpoints.c.recorded_at.type),
            func.max(postings.c.effective_date),
        )
        .where(postings.c.entry_id <= through)
        .group_by(postings.c.account_id)
        .having(count >= min_postings)
        .having(postings.c.account_id.not_in(done))
    )
    columns = ["account_id", "as_of", "through_entry_id", "balance_fen", "posting_count"]
    before = _count(conn, as_of, through)
    conn.execute(insert(checkpoints).from_select([*columns, "recorded_at", "last_date"], sums))
    # Counted, not rowcount: psycopg reports -1 for INSERT … SELECT through SQLAlchemy.
    return _count(conn, as_of, through) - before


def make_grid(
    conn: Connection,
    as_ofs: Sequence[date],
    throughs: Sequence[int],
    clock: Clock,
    min_postings: int = 1000,
) -> int:
    """Checkpoint every large account at each ``as_of`` of ``as_ofs`` and each id of ``throughs``.

    An account is large when it has at least ``min_postings`` postings through the last id;
    a row is written where the checkpoint holds at least ``min_postings`` postings, for
    every as_of up to and including the first one on or after the account's ``last_date``
    at that id (later ones would hold the same postings: the query cuts its date range at
    ``last_date`` instead). One pass over the postings in recorded order, slice by slice
    between consecutive ids; rows already present are skipped. Returns how many were
    written.
    """
    if min_postings < 1:
        raise BadInput("min_postings", f"must be at least 1, got {min_postings}")
    dates = sorted(set(as_ofs))
    ids = sorted(set(throughs))
    if not dates or not ids:
        return 0
    head = conn.execute(select(func.max(entries.c.id))).scalar() or 0
    if ids[-1] > head:
        raise CheckpointBeyondHead(ids[-1], head)
    if ids[0] < 1:
        raise BadInput("through_entry_id", f"must be at least 1, got {ids[0]}")
    large = (
        conn.execute(
            select(postings.c.account_id)
            .where(postings.c.entry_id <= ids[-1])
            .group_by(postings.c.account_id)
            .having(func.count() >= min_postings)
        )
        .scalars()
        .all()
    )
    if not large:
        return 0
    present = {
        tuple(row)
        for row in conn.execute(
            select(
                checkpoints.c.account_id, checkpoints.c.as_of, checkpoints.c.through_entry_id
            ).where(checkpoints.c.through_entry_id.in_(ids))
        )
    }
    width = len(dates)
    totals = {a: [0] * width for a in large}  # fen over dates <= dates[k], ids <= current
    counts = {a: [0] * width for a in large}
    last: dict[int, date | None] = {a: None for a in large}
    now, written, pending = clock.now(), 0, []
    lower = 0
    for upper in ids:
        if upper > lower:
            slice_rows = conn.execute(
                select(
                    postings.c.account_id,
                    postings.c.effective_date,
                    func.sum(postings.c.amount_fen),
                    func.count(),
                )
                .where(
                    and_(postings.c.entry_id > lower, postings.c.entry_id <= upper),
                    postings.c.account_id.in_(large),
                )
                .group_by(postings.c.account_id, postings.c.effective_date)
            )
            delta: dict[int, tuple[list[int], list[int]]] = {}
            for account, day, amount, n in slice_rows:
                sums, ns = delta.setdefault(account, ([0] * (width + 1), [0] * (width + 1)))
                k = bisect_left(dates, day)  # the first as_of on or after the posting's date
                sums[k] += int(amount)
                ns[k] += n
                if last[account] is None or day > last[account]:
                    last[account] = day
            for account, (sums, ns) in delta.items():
                total, count, running_sum, running_n = totals[account], counts[account], 0, 0
                for k in range(width):
                    running_sum += sums[k]
                    running_n += ns[k]
                    total[k] += running_sum
                    count[k] += running_n
            lower = upper
        for account in large:
            final = last[account]
            if final is None:
                continue
            stop = min(bisect_left(dates, final), width - 1)
            for k in range(stop + 1):
                if counts[account][k] < min_postings or (account, dates[k], upper) in present:
                    continue
                pending.append(
                    {
                        "account_id": account,
                        "as_of": dates[k],
                        "through_entry_id": upper,
                        "balance_fen": totals[account][k],
                        "posting_count": counts[account][k],
                        "recorded_at": now,
                        "last_date": final,
                    }
                )
        if len(pending) >= INSERT_CHUNK:
            conn.execute(insert(checkpoints), pending)
            written, pending = written + len(pending), []
    if pending:
        conn.execute(insert(checkpoints), pending)
        written += len(pending)
    return written


def _count(conn: Connection, as_of: date, through: int) -> int:
    return conn.execute(
        select(func.count())
        .select_from(checkpoints)
        .where(checkpoints.c.as_of == as_of, checkpoints.c.through_entry_id == through)
    ).scalar_one()
