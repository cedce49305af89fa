"""Many accounts at once: named accounts' balances, every account's (the trial balance),
the pooling funds by region. Each account is its best checkpoint plus the remainder, or one
GROUP BY pass over the postings index (``ledger.store.balances`` says how a checkpoint is
used); the balances of all accounts sum to zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, case, exists, func, select, true

from ledger.store.balances import (
    CHECKPOINT_COLUMNS,
    NAMES_CHUNK,
    Strategy,
    from_scratch,
    known_cutoff,
    known_only,
    since_checkpoint,
    usable,
)
from ledger.store.tables import accounts, checkpoints, postings


def balances_of(conn: Connection, names: Sequence[str], as_of: date) -> dict[str, int]:
    """``balance`` (everything recorded) of each account in ``names`` as of the end of
    ``as_of``: one statement per ``NAMES_CHUNK`` names (``_per_account``, checkpoints
    included). An account never opened is left out, as ``balance`` refuses it."""
    wanted = sorted(set(names))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), NAMES_CHUNK):
        chunk = wanted[start : start + NAMES_CHUNK]
        query = _per_account(
            as_of, None, accounts.c.name.in_(chunk), lateral=conn.dialect.name == "postgresql"
        )
        found.update((name, int(total)) for name, total in conn.execute(query))
    return found


def account_balances(
    conn: Connection,
    as_of: date,
    cutoff: int | None,
    *,
    name_like: str | None = None,
    strategy: Strategy = "auto",
) -> list[tuple[str, int]]:
    """(account name, balance in fen) for every account with a non-zero balance, by name.

    ``strategy``: ``group`` is one GROUP BY pass over the postings index; ``checkpoints``
    is, per account, its best checkpoint plus the remainder (the plain indexed sum for an
    account without one); ``auto`` takes ``checkpoints`` when any checkpoint is usable.

    Measured at 10 million postings (``bench/bench_balances.py``): through checkpoints
    0.2–0.6 s on either backend, against 0.6–1.1 s (PostgreSQL) and 1.7 s or more (SQLite)
    for the GROUP BY pass; ``auto`` is ``chosen_strategy``. (Before the LATERAL join,
    PostgreSQL's per-account statement took 7.2 s against ``group``'s 1.2 s on a simulated
    ledger of 21,648 accounts: it hashed every checkpoint row.)
    """
    if strategy == "auto":
        strategy = chosen_strategy(conn, as_of, cutoff)
    where = [] if name_like is None else [accounts.c.name.like(name_like)]
    if strategy == "group":
        query = _grouped(as_of, cutoff, *where)
    else:
        query = _per_account(as_of, cutoff, *where, lateral=conn.dialect.name == "postgresql")
    return [(name, int(total)) for name, total in conn.execute(query) if total]


def chosen_strategy(conn: Connection, as_of: date, cutoff: int | None) -> Strategy:
    """``checkpoints`` when any checkpoint is usable, ``group`` otherwise, on both backends.

    On PostgreSQL, with the per-account pick joined LATERAL (``_per_account``) and no JIT
    (``ledger.store.db``), the per-account statement beat the GROUP BY pass at 10 million
    postings (``bench/bench_balances.py``, 2026-12-03): 0.17 s against 1.0 s as of the last
    day, and 0.13–0.24 s against 0.5–0.7 s as of a date before any member's account had a
    checkpoint (each then summed from scratch on its index): the GROUP BY pass reads every
    posting, the per-account one only each account's range up to ``as_of``.
    """
    if _anyusable(conn, as_of, cutoff):
        return "checkpoints"
    return "group"


def _anyusable(conn: Connection, as_of: date, cutoff: int | None) -> bool:
    return bool(conn.execute(select(exists().where(*usable(as_of, cutoff)))).scalar())


def _grouped(as_of: date, cutoff: int | None, *where: ColumnElement[bool]) -> Select:
    """One GROUP BY pass over ``ix_postings_account_date`` (covering), names joined after."""
    sums = (
        select(postings.c.account_id, func.sum(postings.c.amount_fen).label("total"))
        .where(postings.c.effective_date <= as_of, *known_only(cutoff))
        .group_by(postings.c.account_id)
        .subquery()
    )
    query = select(accounts.c.name, sums.c.total).join(sums, sums.c.account_id == accounts.c.id)
    return query.where(*where).order_by(accounts.c.name)


def _per_account(
    as_of: date, cutoff: int | None, *where: ColumnElement[bool], lateral: bool = False
) -> Select:
    """(name, total) per account in ``where``: its best checkpoint plus the remainder.

    The usable checkpoint with the latest ``as_of``, then the largest ``through_entry_id``,
    is picked by a correlated subquery on the checkpoints' unique index; without one, the
    plain indexed sum. ``lateral`` (PostgreSQL) joins that pick as a LATERAL subquery:
    joined on ``cp.id = (correlated subquery)`` instead, PostgreSQL hashes every checkpoint
    row and runs the pick twice per account (3.4 s at 10 million postings with the
    known-at grid, against 0.3 s).
    """
    best = (
        select(checkpoints.c.id)
        .where(checkpoints.c.account_id == accounts.c.id, *usable(as_of, cutoff))
        .order_by(checkpoints.c.as_of.desc(), checkpoints.c.through_entry_id.desc())
        .limit(1)
        .correlate(accounts)
        .scalar_subquery()
    )
    cp: Any
    if lateral:  # PostgreSQL: one index probe per account, not a hash of every checkpoint
        cp = (
            select(*CHECKPOINT_COLUMNS)
            .where(checkpoints.c.account_id == accounts.c.id, *usable(as_of, cutoff))
            .order_by(checkpoints.c.as_of.desc(), checkpoints.c.through_entry_id.desc())
            .limit(1)
            .lateral("cp")
        )
        joined = accounts.outerjoin(cp, true())
        missing = cp.c.through_entry_id.is_(None)
    else:
        cp = checkpoints.alias("cp")
        joined = accounts.outerjoin(cp, cp.c.id == best)
        missing = cp.c.id.is_(None)
    total = case(
        (missing, from_scratch(accounts.c.id, as_of, cutoff)),
        else_=cp.c.balance_fen
        + since_checkpoint(
            accounts.c.id,
            as_of,
            cutoff,
            cp.c.as_of,
            cp.c.through_entry_id,
            func.coalesce(cp.c.last_date, as_of),
        ),
    )
    query = select(accounts.c.name, total.label("total")).select_from(joined)
    return query.where(*where).order_by(accounts.c.name)


def trial_balance(
    conn: Connection,
    as_of: date,
    known_at: datetime | None = None,
    *,
    strategy: Strategy = "auto",
) -> list[tuple[str, int]]:
    """Every account with a non-zero balance in fen, sorted by name; the balances sum to 0.

    Uses checkpoints where they exist (see ``account_balances`` for ``strategy``).
    """
    cutoff = known_cutoff(conn, known_at)
    return account_balances(conn, as_of, cutoff, strategy=strategy)


def pooling_by_region(
    conn: Connection, as_of: date, known_at: datetime | None = None
) -> list[tuple[str, str, int]]:
    """(scheme, region, balance in fen) of every non-zero ``pooling:<scheme>:<region>`` account.

    Shown **credit-positive**: the ledger stores a pooling fund's credit balance as a
    negative number (credit negative); here it is negated, so money in the fund is positive.
    """
    cutoff = known_cutoff(conn, known_at)
    rows = account_balances(conn, as_of, cutoff, name_like="pooling:%", strategy="checkpoints")
    found = []
    for name, total in rows:
        _, scheme, region = name.split(":", 2)
        found.append((scheme, region, -total))
    return found
