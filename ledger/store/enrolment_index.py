"""Every enrolment, kept in memory per engine, for the batch reads that need thousands.

A worker's batch, a run's planning and the HR companies' monthly run each start from the
enrolments of thousands of members; read from the database every time, the rows cost far
more to fetch and build than everything the batch then does with them. Enrolments are
append-only (database triggers refuse UPDATE and DELETE), so what was read once stays
true, and a cheap probe tells whether anything was added since:

- ``snapshot(conn)`` asks, in the caller's own transaction, for ``count(*)`` and
  ``max(id)`` of ``enrolments``. Two sets of committed rows of an append-only table, each
  seen at some moment, are nested (the later holds the earlier), so equal counts mean
  equal sets: when both figures match what is held, the held rows are exactly what the
  caller would read.
- Otherwise the rows with a larger id are read in the caller's transaction and added; if
  the count still differs (PostgreSQL can commit a smaller id after a larger one), all
  rows are read again.
- A transaction that itself wrote enrolments (``wrote``) would show rows that are not
  committed and may never be: it gets ``None`` and its callers query the table as before.
  The writers of ``enrolments`` (``Ledger.enrol``, imports, the simulation's registry)
  call ``wrote`` in the transaction that inserts.

Memory, per engine and process: about 800 bytes per row with the row cache behind
``_enrolment`` (measured with tracemalloc: 52 MB for the 63,712 enrolments of a simulated
10,000 members over 30 years). Past ``MAX_ROWS`` (about 200 MB) the index is not kept and
callers query, as they did before it existed.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, func, select

from ledger.domain.members import Enrolment
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import enrolments

MAX_ROWS = 250_000
_WROTE = "flexledger.enrolments_written_in"


def wrote(conn: Connection) -> None:
    """Mark ``conn``'s current transaction as having inserted enrolments."""
    conn.info[_WROTE] = id(conn.get_transaction())


def _written_here(conn: Connection) -> bool:
    marked = conn.info.get(_WROTE)
    # An id can be reused by a later transaction object: that only skips the index once.
    return marked is not None and marked == id(conn.get_transaction())


@dataclass
class Snapshot:
    """Enrolments by (member, scheme value), each in ``Ledger.enrolments`` order.

    Never changed once returned (a worker's other threads may be reading it): a grown
    table gets a new snapshot sharing the unchanged tuples.
    """

    count: int = 0
    max_id: int = 0
    by_key: dict[tuple[str, str], tuple[Enrolment, ...]] = field(default_factory=dict)
    agency: frozenset[str] = frozenset()
    """members with an enrolment through an HR company, in any scheme, at any time"""

    def grown(self, found: list[Enrolment]) -> Snapshot:
        """A new snapshot with ``found`` added."""
        by_key = dict(self.by_key)
        added: defaultdict[tuple[str, str], list[Enrolment]] = defaultdict(list)
        for enrolment in found:
            added[(enrolment.member_id, enrolment.scheme.value)].append(enrolment)
        for key, more in added.items():
            by_key[key] = tuple(
                sorted((*by_key.get(key, ()), *more), key=lambda e: (e.from_month, e.id))
            )
        agency = self.agency | {e.member_id for e in found if e.method == "agency"}
        max_id = max((e.id for e in found), default=self.max_id)
        return Snapshot(self.count + len(found), max(self.max_id, max_id), by_key, agency)


_held: weakref.WeakKeyDictionary[Engine, Snapshot] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def snapshot(conn: Connection) -> Snapshot | None:
    """Every enrolment visible to ``conn``'s transaction, or ``None``: query instead."""
    if _written_here(conn):
        return None
    # Two scalar subqueries, one statement (one snapshot): SQLite counts a table from its
    # b-tree's page counts only when count(*) stands alone; beside max(id) it reads every row.
    count, max_id = conn.execute(
        select(
            select(func.count()).select_from(enrolments).scalar_subquery(),
            select(func.max(enrolments.c.id)).scalar_subquery(),
        )
    ).one()
    max_id = max_id or 0
    if count > MAX_ROWS:
        return None
    with _lock:
        held = _held.get(conn.engine)
        if held is not None and (held.count, held.max_id) == (count, max_id):
            return held
        if held is not None and count > held.count:
            grown = held.grown(_rows(conn, after=held.max_id))
            if (grown.count, grown.max_id) == (count, max_id):
                _held[conn.engine] = grown
                return grown
        fresh = Snapshot().grown(_rows(conn, after=None))
        if (fresh.count, fresh.max_id) != (count, max_id):
            return None  # the table changed under a non-repeatable read: query
        _held[conn.engine] = fresh
        return fresh


def _rows(conn: Connection, after: int | None) -> list[Enrolment]:
    query = select(enrolments)
    if after is not None:
        query = query.where(enrolments.c.id > after)
    return [enrolment_from_row(row) for row in conn.execute(query).all()]


def forget(engine: Engine) -> None:
    """Drop what is held for ``engine`` (tests; a database restored from a backup)."""
    with _lock:
        _held.pop(engine, None)
