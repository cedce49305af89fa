"""A member's pension history from the ledger, as the projection's ``Person``: the storage edge.

Read through the ledger's own queries: the member row (``Ledger.find_member``), the
regions paid in (``queries.contribution_months``), each month's actual base
(``operations.transfers.paid_months``: the latest base posted for the month, months wholly
reversed left out) and the personal account's balance (``queries.balance``). Each month's
contribution index is ``rules.pension.contribution_index``: that base ÷ that year's
average wage (DOMAIN.md §6).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from ledger.compare.model import Person
from ledger.domain import errors
from ledger.domain.accounts import personal
from ledger.domain.errors import UnknownMember
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.rules.pension import Category, contribution_index
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.operations.transfers import paid_months
from ledger.store import queries


def member_person(
    ledger: Ledger,
    conn: Connection,
    member_id: str,
    policy: PolicySet,
    on: date,
    *,
    lives_in: str | None,
    category: Category,
) -> Person:
    """The member as of ``on``: birth date, sex, hukou, where they live (unless
    ``lives_in`` says otherwise), every pension month paid with its index, the balance."""
    found = ledger.find_member(conn, member_id)
    if found is None:
        raise UnknownMember(member_id)
    held = [c for c in queries.contribution_months(conn, member_id) if c.scheme == "pension"]
    months: dict[Month, tuple[str, int]] = {}
    for row in held:
        paid = paid_months(conn, Scheme.PENSION, on, {member_id: (row.region, None)})
        for month in paid[member_id]:
            months[month.month] = (month.region, month.base_fen)
    indices = tuple(
        contribution_index(base_fen, region, month.first_day, policy)
        for month, (region, base_fen) in sorted(months.items())
    )
    try:
        balance_fen = -queries.balance(conn, personal("pension", member_id), on)
    except errors.UnknownAccount:
        balance_fen = 0
    last = max(held, key=lambda c: c.last).held_in if held else None
    return Person(
        birth_date=found.birth_date,
        sex=found.sex,
        hukou=found.hukou,
        lives_in=lives_in or found.region,
        category=category,
        paid_months=len(indices),
        paid_indices=indices,
        paid_region=last,
        balance_fen=balance_fen,
    )
