"""The auditor's balance queries, as SQLAlchemy Core: two time axes, checkpoints, one index.

Every amount here is integer fen, signed debit positive and credit negative, so the
balances of all accounts sum to zero.

Two time axes, answered by one query:
- ``as_of`` (a date): a posting counts when its ``effective_date <= as_of``;
- ``known_at`` (a datetime, None = everything recorded): an entry counts when it was
  recorded at or before ``known_at``. Entries get gapless ids in recorded order and recorded
  times never go backwards (``ledger.store.recorder``), so the entries known at T are
  exactly those with ``id <= cutoff(T)``, ``cutoff(T) = max(id) where recorded_at <= T``.
  The cutoff is computed once; postings are then filtered on their ``entry_id`` copy, which
  ``ix_postings_account_date (account_id, effective_date, entry_id, amount_fen)`` covers.

Checkpoints (``ledger.store.checkpoints``) hold the balance of one account over
``effective_date <= cp.as_of AND entry_id <= cp.through_entry_id``, and ``cp.last_date``,
the latest date of any of its postings through that id. That set never changes (a later
entry, even a back-dated one, has a larger id), so a checkpoint is exact for ever. A
balance read through a usable checkpoint (``cp.as_of <= as_of``, ``cp.through <= cutoff``)
is::

    cp.balance_fen
    + sum(effective_date in (cp.as_of, min(as_of, cp.last_date)] and entry_id <= cp.through)
    + sum(entry_id in (cp.through, cutoff] and effective_date <= as_of)

The first sum reads ``ix_postings_account_date`` over the dates between the two as_ofs
(none when the checkpoint holds every posting of its ids: ``last_date <= cp.as_of``); the
second reads ``ix_postings_account_entry`` over the entries recorded between the two
cutoffs, back-dated ones included. A point balance weighs two candidates — the usable
checkpoint with the latest ``as_of`` (then the largest id), and the one with the largest
id (then the latest ``as_of``), which serves "as known at" — and takes the one holding
more postings: both are subsets of the answer, so it leaves fewer to add. Without one, the
plain indexed sum. Checkpoints never change an answer, only how much of the index is read.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from typing import Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    TextClause,
    bindparam,
    func,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ledger.domain.errors import UnknownAccount
from ledger.store.tables import accounts, checkpoints, entries, postings

Strategy = Literal["auto", "checkpoints", "group"]
NAMES_CHUNK = 500


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive is taken as UTC).

    SQLite stores recorded times as UTC text without an offset, so a bound ``known_at`` must
    be converted to UTC before it is compared, not merely labelled.
    """
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def known_cutoff(conn: Connection, known_at: datetime | None) -> int | None:
    """The last entry id recorded at or before ``known_at`` (0 if none); None for no limit.

    Two index seeks on ``ix_entries_recorded_at``: the latest recorded time not after
    ``known_at``, then the largest id recorded at exactly that time (one append writes a
    batch of entries with the same recorded time).
    """
    if known_at is None:
        return None
    return conn.execute(_CUTOFF, {"known_at": utc(known_at)}).scalar() or 0


_CUTOFF = select(func.max(entries.c.id)).where(
    entries.c.recorded_at
    == select(func.max(entries.c.recorded_at))
    .where(entries.c.recorded_at <= bindparam("known_at", type_=entries.c.recorded_at.type))
    .scalar_subquery()
)


# --------------------------------------------------------------------------- sums


def _sum(*where: ColumnElement[bool]) -> ColumnElement[int]:
    """``coalesce(sum(amount_fen), 0)`` over the postings matching ``where``, as a scalar."""
    return select(func.coalesce(func.sum(postings.c.amount_fen), 0)).where(*where).scalar_subquery()


class unindexed(FunctionElement):
    """A date column no index may serve: ``+column`` on SQLite, ``(column + 0)`` on PostgreSQL.

    The back-dated remainder filters on ``entry_id`` (a narrow range) and ``effective_date``
    (a wide one). Left to themselves, both planners take the date index inside a correlated
    subquery (PostgreSQL even with statistics: it cannot see the correlated values) and walk
    the account's whole history; hiding the date sends them to ``ix_postings_account_entry``.
    """

    inherit_cache = True

    def __init__(self, column: ColumnElement) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _as_is(element: unindexed, compiler, **kw) -> str:  # type: ignore[no-untyped-def]
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "postgresql")
def _plus_zero_days(element: unindexed, compiler, **kw) -> str:  # type: ignore[no-untyped-def]
    return "(" + compiler.process(element.clauses, **kw) + " + 0)"


@compiles(unindexed, "sqlite")
def _unary_plus(element: unindexed, compiler, **kw) -> str:  # type: ignore[no-untyped-def]
    return "+" + compiler.process(element.clauses, **kw)


def known_only(cutoff: int | None) -> list[ColumnElement[bool]]:
    return [] if cutoff is None else [postings.c.entry_id <= cutoff]


def from_scratch(account: object, as_of: date, cutoff: int | None) -> ColumnElement[int]:
    """The plain indexed sum: every posting of ``account`` up to ``as_of`` and ``cutoff``.

    ``account`` is an id or a column (then the sum is a correlated subquery).
    """
    return _sum(
        postings.c.account_id == account, postings.c.effective_date <= as_of, *known_only(cutoff)
    )


def since_checkpoint(
    account: object,
    as_of: date,
    cutoff: int | None,
    cp_as_of: object,
    cp_through: object,
    cp_last: object = None,
) -> ColumnElement[int]:
    """What a checkpoint at (``cp_as_of``, ``cp_through``) leaves out of the balance, in fen.

    (a) later dates among the checkpoint's own ids, read on ``ix_postings_account_date``
    and cut at ``cp_last`` (its ``last_date``; None: not cut); (b) every entry recorded after
    the checkpoint up to ``cutoff``, back-dated ones included, read on
    ``ix_postings_account_entry`` (bounded on both sides, the date hidden from the
    planner, so that it takes the entry index rather than walk every earlier date).
    """
    ends = [postings.c.effective_date <= as_of]
    if cp_last is not None:
        ends.append(postings.c.effective_date <= cp_last)
    later_dates = _sum(
        postings.c.account_id == account,
        postings.c.effective_date > cp_as_of,
        *ends,
        postings.c.entry_id <= cp_through,
    )
    upper = cutoff if cutoff is not None else select(func.max(entries.c.id)).scalar_subquery()
    recorded_after = _sum(
        postings.c.account_id == account,
        postings.c.entry_id > cp_through,
        postings.c.entry_id <= upper,
        unindexed(postings.c.effective_date) <= as_of,
    )
    return later_dates + recorded_after


def usable(as_of: date, cutoff: int | None) -> list[ColumnElement[bool]]:
    usable = [checkpoints.c.as_of <= as_of]
    if cutoff is not None:
        usable.append(checkpoints.c.through_entry_id <= cutoff)
    return usable


def account_id(conn: Connection, account: str) -> int:
    """The id of the account named ``account``; ``UnknownAccount`` if it was never opened."""
    found = conn.execute(_ACCOUNT_ID, {"name": account}).scalar()
    if found is None:
        raise UnknownAccount(account)
    return found


CHECKPOINT_COLUMNS = (
    checkpoints.c.as_of,
    checkpoints.c.through_entry_id,
    checkpoints.c.balance_fen,
    checkpoints.c.posting_count,
    checkpoints.c.last_date,
)


@functools.cache
def _point_statements(known: bool) -> dict[str, Select]:
    """The point balance's statements, built once with bound parameters: building and
    keying a statement costs more Python time than the index reads it asks for."""
    account = bindparam("account", type_=accounts.c.id.type)
    as_of = bindparam("as_of", type_=postings.c.effective_date.type)
    cutoff = bindparam("cutoff", type_=postings.c.entry_id.type) if known else None
    usable = [checkpoints.c.account_id == account]
    # by_id hides the as_of bound from the planner: otherwise SQLite reads every usable row
    # on the unique (account, as_of, through) index and sorts them (milliseconds on a grid).
    by_id_where = [checkpoints.c.account_id == account, unindexed(checkpoints.c.as_of) <= as_of]
    if cutoff is not None:
        usable.append(checkpoints.c.through_entry_id <= cutoff)
        by_id_where.append(checkpoints.c.through_entry_id <= cutoff)
    rest = since_checkpoint(
        account,
        as_of,
        cutoff,
        bindparam("cp_as_of", type_=checkpoints.c.as_of.type),
        bindparam("cp_through", type_=checkpoints.c.through_entry_id.type),
        bindparam("cp_last", type_=checkpoints.c.as_of.type),
    )
    by_date = (
        select(*CHECKPOINT_COLUMNS)
        .where(*usable, checkpoints.c.as_of <= as_of)
        .order_by(checkpoints.c.as_of.desc(), checkpoints.c.through_entry_id.desc())
        .limit(1)
        .subquery()
    )
    by_id = (
        select(*CHECKPOINT_COLUMNS)
        .where(*by_id_where)
        .order_by(checkpoints.c.through_entry_id.desc(), checkpoints.c.as_of.desc())
        .limit(1)
        .subquery()
    )
    return {
        # Equal counts: either leaves as many postings to add.
        "candidates": union_all(select(by_date), select(by_id)),
        "scratch": select(from_scratch(account, as_of, cutoff)),
        "rest": select(rest),
    }


_ACCOUNT_ID = select(accounts.c.id).where(accounts.c.name == bindparam("name"))


def _params(account: int, as_of: date, cutoff: int | None) -> dict[str, object]:
    params: dict[str, object] = {"account": account, "as_of": as_of}
    if cutoff is not None:
        params["cutoff"] = cutoff
    return params


def best_checkpoint(conn: Connection, account: int, as_of: date, cutoff: int | None) -> Row | None:
    """The usable checkpoint of ``account`` that holds the most postings, of two candidates:
    the latest as_of (then the largest id) and the largest id (then the latest as_of)."""
    statements = _point_statements(cutoff is not None)
    params = _params(account, as_of, cutoff)
    found = conn.execute(statements["candidates"], params).all()  # one round trip
    return max(found, key=lambda row: row.posting_count, default=None)


def balance(conn: Connection, account: str, as_of: date, known_at: datetime | None = None) -> int:
    """The balance of ``account`` in fen as of the end of ``as_of``, as known at ``known_at``.

    Sums the account's postings with ``effective_date <= as_of`` from the entries recorded
    at or before ``known_at`` (None: every entry), starting from the best checkpoint if any.

    On PostgreSQL, one statement (``_POINT_PG``: account, cutoff, both checkpoint
    candidates and the remainder), so one round trip to the server, whose cost there is
    most of a point balance's; psycopg prepares it on the server after a few calls on a
    connection, so its plan is reused. On SQLite, in-process, a few small statements
    (account, cutoff, checkpoints, sums): measured faster than one correlated statement.
    """
    if conn.dialect.name == "postgresql":
        return _balance_pg(conn, account, as_of, known_at)
    ident = account_id(conn, account)
    cutoff = known_cutoff(conn, known_at)
    cp = best_checkpoint(conn, ident, as_of, cutoff)
    statements = _point_statements(cutoff is not None)
    params = _params(ident, as_of, cutoff)
    if cp is None:
        return int(conn.execute(statements["scratch"], params).scalar_one())
    # A checkpoint holding every posting of its ids (last_date <= as_of) has no later date
    # to add: the date range is cut to nothing; an unknown last_date (NULL) cuts nothing.
    last = cp.last_date if cp.last_date is not None else as_of
    params.update(cp_as_of=cp.as_of, cp_through=cp.through_entry_id, cp_last=max(last, cp.as_of))
    return cp.balance_fen + int(conn.execute(statements["rest"], params).scalar_one())


def _point_pg(known: bool) -> TextClause:
    """The point balance in one PostgreSQL statement: ``balance``'s steps, each a subquery.

    ``cut``: the known-at cutoff (``known_cutoff``; without ``known_at``, the head, which
    bounds only the recorded-after sum); ``best``: of the two candidates ``best_checkpoint``
    weighs, the one holding more postings (LATERAL on the account row); then the plain
    indexed sum without a checkpoint, or the checkpoint plus ``since_checkpoint``'s two
    sums (``effective_date + 0`` hides the date from the planner there, as ``unindexed``).
    No row: the account was never opened.
    """
    if known:
        cutoff = (
            "coalesce((SELECT max(e.id) FROM entries e WHERE e.recorded_at = "
            "(SELECT max(r.recorded_at) FROM entries r WHERE r.recorded_at <= :known_at)), 0)"
        )
        through = "AND c.through_entry_id <= cut.cutoff"
        scratch_known = "AND p.entry_id <= cut.cutoff"
    else:
        cutoff = "(SELECT max(e.id) FROM entries e)"
        through = scratch_known = ""
    columns = "c.as_of, c.through_entry_id, c.balance_fen, c.posting_count, c.last_date"
    return text(
        f"""
SELECT a.id,
  CASE WHEN best.through_entry_id IS NULL THEN
    (SELECT coalesce(sum(p.amount_fen), 0) FROM postings p
      WHERE p.account_id = a.id AND p.effective_date <= :as_of {scratch_known})
  ELSE best.balance_fen
    + (SELECT coalesce(sum(p.amount_fen), 0) FROM postings p
        WHERE p.account_id = a.id AND p.effective_date > best.as_of
          AND p.effective_date <= least(:as_of,
                greatest(coalesce(best.last_date, :as_of), best.as_of))
          AND p.entry_id <= best.through_entry_id)
    + (SELECT coalesce(sum(p.amount_fen), 0) FROM postings p
        WHERE p.account_id = a.id AND p.entry_id > best.through_entry_id
          AND p.entry_id <= cut.cutoff AND (p.effective_date + 0) <= :as_of)
  END AS total
FROM accounts a
CROSS JOIN (SELECT {cutoff} AS cutoff) cut
LEFT JOIN LATERAL (
  SELECT * FROM (
    (SELECT {columns} FROM checkpoints c
      WHERE c.account_id = a.id AND c.as_of <= :as_of {through}
      ORDER BY c.as_of DESC, c.through_entry_id DESC LIMIT 1)
    UNION ALL
    (SELECT {columns} FROM checkpoints c
      WHERE c.account_id = a.id AND (c.as_of + 0) <= :as_of {through}
      ORDER BY c.through_entry_id DESC, c.as_of DESC LIMIT 1)
  ) candidates ORDER BY posting_count DESC LIMIT 1
) best ON true
WHERE a.name = :name
"""
    ).bindparams(
        *[bindparam("as_of", type_=postings.c.effective_date.type)]
        + ([bindparam("known_at", type_=entries.c.recorded_at.type)] if known else [])
    )


_POINT_PG = {known: _point_pg(known) for known in (False, True)}


def _balance_pg(conn: Connection, account: str, as_of: date, known_at: datetime | None) -> int:
    params: dict[str, object] = {"name": account, "as_of": as_of}
    if known_at is not None:
        params["known_at"] = utc(known_at)
    row = conn.execute(_POINT_PG[known_at is not None], params).first()
    if row is None:
        raise UnknownAccount(account)
    return int(row.total)
