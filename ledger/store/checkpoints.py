"""Balance checkpoints: cached sums that keep a point-in-time balance to a short index read.

A checkpoint row says: the postings of ``account_id`` with ``effective_date <= as_of`` and
``entry_id <= through_entry_id`` number ``posting_count`` and sum to ``balance_fen`` (fen,
debit positive). That set of postings can never change — entries are append-only and a
later entry, even one back-dated before ``as_of``, gets a larger id — so a checkpoint is
exact for ever and may be made at any time for any date; ``ledger.store.balances`` adds
the postings it leaves out. Checkpoints are a cache: deleting them changes no answer.

``make_checkpoints`` is one GROUP BY over the postings index and one INSERT … SELECT, run
in the caller's transaction. Making the same (as_of, through) twice writes nothing twice.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, func, insert, literal, select

from ledger.clock import Clock
from ledger.errors import BadInput
from ledger.store.tables import checkpoints, entries, postings


class CheckpointBeyondHead(BadInput):
    """Raised when a checkpoint is asked for through an entry id that is not recorded yet."""

    def __init__(self, through: int, head: int) -> None:
        super().__init__("through_entry_id", f"{through} is after the last entry, {head}")


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
    count = func.count()
    sums = (
        select(
            postings.c.account_id,
            literal(as_of, checkpoints.c.as_of.type),
            literal(through, checkpoints.c.through_entry_id.type),
            func.sum(postings.c.amount_fen),
            count,
            literal(clock.now(), checkpoints.c.recorded_at.type),
        )
        .where(postings.c.effective_date <= as_of, postings.c.entry_id <= through)
        .group_by(postings.c.account_id)
        .having(count >= min_postings)
        .having(postings.c.account_id.not_in(done))
    )
    columns = ["account_id", "as_of", "through_entry_id", "balance_fen", "posting_count"]
    before = _count(conn, as_of, through)
    conn.execute(insert(checkpoints).from_select([*columns, "recorded_at"], sums))
    # Counted, not rowcount: psycopg reports -1 for INSERT … SELECT through SQLAlchemy.
    return _count(conn, as_of, through) - before


def _count(conn: Connection, as_of: date, through: int) -> int:
    return conn.execute(
        select(func.count())
        .select_from(checkpoints)
        .where(checkpoints.c.as_of == as_of, checkpoints.c.through_entry_id == through)
    ).scalar_one()
