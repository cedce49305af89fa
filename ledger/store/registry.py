"""The one place members and enrolments are written: the command line's register and
enrol, the CSV import and the simulation all come through here.

Both tables are append-only (triggers refuse UPDATE and DELETE): an enrolment is changed
or ended by a new row, which supersedes the earlier one (``Ledger.enrolment_for``).
Every write of enrolments tells the in-memory enrolment index first
(``enrolment_index.wrote``), so no worker reads a stale copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from ledger.domain.members import Enrolment
from ledger.store import enrolment_index
from ledger.store.bulk import bulk_insert
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import enrolments, members

MEMBER_COLUMNS = ("id", "region", "hukou", "sex", "birth_date", "recorded_at")
ENROLMENT_COLUMNS = (
    "member_id",
    "scheme",
    "region",
    "base_percent",
    "base_fen",
    "grade",
    "method",
    "agency",
    "from_month",
    "to_month",
    "signed_on",
    "recorded_at",
)


def add_members(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Register members: tuples in ``MEMBER_COLUMNS`` order, in one statement."""
    bulk_insert(conn, members, MEMBER_COLUMNS, list(rows))


def add_enrolments(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Record enrolments: tuples in ``ENROLMENT_COLUMNS`` order, in one statement."""
    if not rows:
        return
    enrolment_index.wrote(conn)
    bulk_insert(conn, enrolments, ENROLMENT_COLUMNS, list(rows))


def add_enrolment(conn: Connection, row: tuple[Any, ...]) -> Enrolment:
    """Record one enrolment (a tuple in ``ENROLMENT_COLUMNS`` order) and return it."""
    enrolment_index.wrote(conn)
    values = dict(zip(ENROLMENT_COLUMNS, row, strict=True))
    new_id = conn.execute(insert(enrolments).values(**values)).inserted_primary_key[0]
    return enrolment_from_row(
        conn.execute(select(enrolments).where(enrolments.c.id == new_id)).one()
    )
