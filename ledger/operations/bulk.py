"""Reads for a whole member batch at once, for the operations' fact loaders.

These read for a batch in a few queries (``CHUNK`` ids per ``IN``) what the per-member
lookups would: members (``Ledger.find_member``), enrolments (``Ledger.enrolments``), paid
periods. A member not found is absent; the deciders name what is wrong (not registered,
not enrolled).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, func, select

from ledger.domain.errors import LedgerError
from ledger.domain.identity import parse_citizen_id
from ledger.domain.journal import EntryKind
from ledger.domain.members import Enrolment, Member
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK
from ledger.store import enrolment_index
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import enrolments, entries, members


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = sorted(set(ids))
    return [unique[i : i + CHUNK] for i in range(0, len(unique), CHUNK)]


def members_of(conn: Connection, ids: Sequence[str]) -> dict[str, Member]:
    """Each registered member of ``ids``, by id (``Ledger.find_member`` for many)."""
    found: dict[str, Member] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(select(members).where(members.c.id.in_(chunk))):
            found[row.id] = Member(row.id, row.region, row.hukou, row.sex, row.birth_date)
    return found


def citizen_number(text: str, today: date) -> str | None:
    """The canonical citizen number ``text`` names, or None if it names none (the decider
    refuses it with the reason)."""
    try:
        return parse_citizen_id(text, today=today, field="member").number
    except LedgerError:
        return None


def enrolments_of(
    conn: Connection, ids: Sequence[str], scheme: Scheme
) -> dict[str, list[Enrolment]]:
    """Each member's enrolments in ``scheme``, in ``Ledger.enrolments`` order."""
    held = enrolment_index.snapshot(conn)
    if held is not None:
        by_key, value = held.by_key, scheme.value
        found = defaultdict(list)
        for m in sorted(set(ids)):
            if (m, value) in by_key:
                found[m] = list(by_key[(m, value)])
        return found
    found: defaultdict[str, list[Enrolment]] = defaultdict(list)
    for chunk in _chunks(ids):
        rows = conn.execute(
            select(enrolments)
            .where(enrolments.c.member_id.in_(chunk), enrolments.c.scheme == scheme.value)
            .order_by(enrolments.c.member_id, enrolments.c.from_month, enrolments.c.id)
        ).all()
        for row in rows:
            found[row.member_id].append(enrolment_from_row(row))
    return found


def paid_of(
    conn: Connection,
    ids: Sequence[str],
    scheme: Scheme,
    first: str,
    last: str,
    kind: EntryKind = EntryKind.CONTRIBUTION,
) -> dict[str, set[str]]:
    """Each member's periods ``first``..``last`` with a ``kind`` entry (a ``contribution``:
    paid; an ``arrears``: recorded as a gap).

    One row per member (the periods joined in SQL): a year's batch has a dozen paid
    months per member, and fetching a row costs more than splitting a string.
    """
    found: defaultdict[str, set[str]] = defaultdict(set)
    for chunk in _chunks(ids):
        rows = conn.execute(
            select(entries.c.member_id, func.aggregate_strings(entries.c.period, ","))
            .where(
                entries.c.kind == kind.value,
                entries.c.member_id.in_(chunk),
                entries.c.scheme == scheme.value,
                entries.c.period >= first,
                entries.c.period <= last,
            )
            .group_by(entries.c.member_id)
        ).all()
        for member_id, periods in rows:
            found[member_id].update(periods.split(","))
    return found
