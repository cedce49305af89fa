"""Who a periodic run is for: the members enrolled in a scheme in a year or a month.

Read from the enrolment index a simulation holds when there is one, else from the
``enrolments`` table; sorted, so a run splits into the same batches every time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

from sqlalchemy import Connection, select

from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.store import enrolment_index
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import enrolments


def bank_members(conn: Connection, scheme: Scheme, year: int) -> list[str]:
    """Members with a ``bank`` enrolment in ``scheme`` in force some month of ``year``."""
    return enrolled_members(conn, scheme, year, method="bank")


def bank_members_in(
    conn: Connection, scheme: Scheme, month: Month, regions: Collection[str]
) -> list[str]:
    """Members whose ``scheme`` enrolment in force in ``month`` is a ``bank`` one in one of
    ``regions``, sorted: a month-by-month region's own run for the month."""
    held = enrolment_index.snapshot(conn)
    if held is not None:
        by_member = (
            (m, found) for (m, value), found in held.by_key.items() if value == scheme.value
        )
    else:
        grouped: defaultdict[str, list[Enrolment]] = defaultdict(list)
        for row in conn.execute(
            select(enrolments)
            .where(enrolments.c.scheme == scheme.value, enrolments.c.from_month <= str(month))
            .order_by(enrolments.c.member_id, enrolments.c.from_month, enrolments.c.id)
        ):
            grouped[row.member_id].append(enrolment_from_row(row))
        by_member = iter(grouped.items())
    return sorted(
        m
        for m, found in by_member
        if (e := Ledger.enrolment_for(found, month)) is not None
        and e.method == "bank"
        and e.region in regions
    )


def enrolled_members(
    conn: Connection, scheme: Scheme, year: int, method: str | None = None
) -> list[str]:
    """Members with an enrolment in ``scheme`` (paid by ``method``, if given) in force some
    month of ``year``, sorted."""
    held = enrolment_index.snapshot(conn)
    if held is not None:
        return sorted(
            member_id
            for (member_id, value), found in held.by_key.items()
            if value == scheme.value
            and (method is None or any(e.method == method for e in found))
            and _enrolled_in(found, year, method)
        )
    query = select(enrolments).where(enrolments.c.scheme == scheme.value)
    if method is not None:
        with_method = select(enrolments.c.member_id).where(
            enrolments.c.method == method, enrolments.c.scheme == scheme.value
        )
        query = query.where(enrolments.c.member_id.in_(with_method))
    by_member: defaultdict[str, list[Enrolment]] = defaultdict(list)
    for row in conn.execute(
        query.where(enrolments.c.from_month <= f"{year}-12").order_by(
            enrolments.c.member_id, enrolments.c.from_month, enrolments.c.id
        )
    ).all():
        by_member[row.member_id].append(enrolment_from_row(row))
    return sorted(m for m, found in by_member.items() if _enrolled_in(found, year, method))


def _enrolled_in(found: Sequence[Enrolment], year: int, method: str | None) -> bool:
    for month in Month(year, 1).until(Month(year, 12)):
        enrolment = Ledger.enrolment_for(found, month)
        if enrolment is not None and (method is None or enrolment.method == method):
            return True
    return False
