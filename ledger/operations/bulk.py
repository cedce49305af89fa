"""Reads for a whole member batch at once: what the batch actors need before they draft.

A worker's message carries a batch of members; reading each member's row, enrolments and
paid months one query at a time costs three or four round trips per member, which at a
simulated population's scale (hundreds of thousands of member-runs) is most of the work.
These read the same rows for the batch in a few queries (``CHUNK`` ids per ``IN``), and
return exactly what the per-member lookups would: ``Ledger.enrolments`` and
``paid_periods``. A member with no enrolment is absent: the batch actors leave them to
the per-member path, which names what is wrong (not registered, not enrolled).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from ledger.domain.journal import EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK
from ledger.store import enrolment_index
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import enrolments, entries


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = sorted(set(ids))
    return [unique[i : i + CHUNK] for i in range(0, len(unique), CHUNK)]


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
