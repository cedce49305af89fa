"""A member's statement: every posting to their accounts and every posting of an entry
naming them, with a running balance per account, on both time axes; and read from it,
what the member owns (``holdings``) and what each payment bought (``payments_bought``).

Amounts are integer fen, debit positive, credit negative.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, exists, select, union

from ledger.domain.errors import UnknownMember
from ledger.store.balances import (
    known_cutoff,
    utc,
)
from ledger.store.tables import (
    accounts,
    entries,
    members,
    postings,
)


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One posting on a member's statement; amounts in fen, debit positive.

    ``balance_fen`` is the running balance of ``account`` over the statement's lines in
    order. For the member's own accounts (``personal:*``, ``arrears:*``) every posting is on
    the statement, so it is the account's balance at the end of ``effective_date`` (once
    the day's last line is read); for shared accounts (collection, pooling) it is only this
    member's share of the account.
    """

    entry_id: int
    effective_date: date
    recorded_at: datetime
    kind: str
    period: str | None
    scheme: str | None
    region: str | None
    account: str
    amount_fen: int
    balance_fen: int
    reason: str


def member_accounts(conn: Connection, member_id: str) -> dict[int, str]:
    """The member's own accounts (``personal:<scheme>:<id>``, ``arrears:<scheme>:<id>``) by id."""
    found: dict[int, str] = {}
    for head in ("personal", "arrears"):
        pattern = f"{head}:%:{escape_like(member_id)}"
        for row in conn.execute(
            select(accounts.c.id, accounts.c.name).where(accounts.c.name.like(pattern, escape="\\"))
        ):
            if row.name.count(":") == 2:  # exactly kind:scheme:member
                found[row.id] = row.name
    return found


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def statement(
    conn: Connection,
    member_id: str,
    as_of: date | None = None,
    known_at: datetime | None = None,
) -> list[StatementLine]:
    """Every posting to the member's accounts and every posting of an entry naming the member.

    In effective-date order (then entry id, then posting id), with a running balance per
    account; ``as_of`` and ``known_at`` limit the two time axes as ``balance`` does.
    Raises ``UnknownMember`` when the member appears nowhere in the ledger.
    """
    own = member_accounts(conn, member_id)
    cutoff = known_cutoff(conn, known_at)
    by_entry = (
        select(postings.c.id)
        .join(entries, entries.c.id == postings.c.entry_id)
        .where(entries.c.member_id == member_id)
    )
    ids = union(select(postings.c.id).where(postings.c.account_id.in_(own)), by_entry)
    query = (
        select(
            postings.c.entry_id,
            postings.c.effective_date,
            entries.c.recorded_at,
            entries.c.kind,
            entries.c.period,
            entries.c.scheme,
            entries.c.region,
            accounts.c.name,
            postings.c.amount_fen,
            entries.c.reason,
        )
        .join(entries, entries.c.id == postings.c.entry_id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.id.in_(ids if own else by_entry))
        .order_by(postings.c.effective_date, postings.c.entry_id, postings.c.id)
    )
    if as_of is not None:
        query = query.where(postings.c.effective_date <= as_of)
    if cutoff is not None:
        query = query.where(postings.c.entry_id <= cutoff)
    lines: list[StatementLine] = []
    running: defaultdict[str, int] = defaultdict(int)
    for row in conn.execute(query):
        running[row.name] += row.amount_fen
        lines.append(
            StatementLine(
                entry_id=row.entry_id,
                effective_date=row.effective_date,
                recorded_at=utc(row.recorded_at),
                kind=row.kind,
                period=row.period,
                scheme=row.scheme,
                region=row.region,
                account=row.name,
                amount_fen=row.amount_fen,
                balance_fen=running[row.name],
                reason=row.reason,
            )
        )
    if not lines and not own and not _is_member(conn, member_id):
        raise UnknownMember(member_id)
    return lines


@dataclass(frozen=True, slots=True)
class Holding:
    """One of the member's own accounts at the statement's end: ``owned_fen`` is what the
    member holds there, credit-positive (a personal account's balance is the fund's debt to
    the member; arrears show as negative: months owed)."""

    account: str
    owned_fen: int
    postings: int
    last_date: date


@dataclass(frozen=True, slots=True)
class PaymentBought:
    """What one payment (a contribution, or an adjustment or correction of one) bought: the
    money paid in, the shares credited to the member's personal account and to the
    region's pooling fund, any subsidy, and the personal account's balance after it."""

    entry_id: int
    effective_date: date
    kind: str
    period: str | None
    scheme: str | None
    region: str | None
    paid_fen: int
    personal_fen: int
    pooling_fen: int
    subsidy_fen: int
    personal_balance_fen: int


PAYMENT_KINDS = frozenset({"contribution", "adjustment", "correction"})


def holdings(member_id: str, lines: Sequence[StatementLine]) -> list[Holding]:
    """The member's own accounts (``<kind>:<scheme>:<member>``) from a statement's lines."""
    found: dict[str, list[StatementLine]] = {}
    for line in lines:
        if line.account.endswith(f":{member_id}"):
            found.setdefault(line.account, []).append(line)
    return [
        Holding(name, -own[-1].balance_fen, len(own), own[-1].effective_date)
        for name, own in sorted(found.items())
    ]


def payments_bought(member_id: str, lines: Sequence[StatementLine]) -> list[PaymentBought]:
    """One row per payment entry of the statement, in its order (pure: from the lines, whose
    legs of one entry are contiguous). The payer's legs (collection or HR company) are
    what was paid; the personal balance after is the running balance of the scheme's
    personal account, whatever moved it before (interest, transfers)."""
    owned: dict[str, int] = {}
    sums: dict[int, dict[str, int]] = {}
    heads: dict[int, StatementLine] = {}
    for line in lines:
        if line.account.endswith(f":{member_id}"):
            owned[line.account] = -line.balance_fen
        if line.kind not in PAYMENT_KINDS or line.scheme is None:
            continue
        heads.setdefault(line.entry_id, line)
        got = sums.setdefault(
            line.entry_id, {"paid": 0, "personal": 0, "pooling": 0, "subsidy": 0, "after": 0}
        )
        own = f"personal:{line.scheme}:{member_id}"
        if line.account == own:
            got["personal"] -= line.amount_fen
        elif line.account.startswith("pooling:"):
            got["pooling"] -= line.amount_fen
        elif line.account.startswith("subsidy:"):
            got["subsidy"] += line.amount_fen
        else:
            got["paid"] += line.amount_fen
        got["after"] = owned.get(own, 0)
    return [
        PaymentBought(
            entry_id,
            head.effective_date,
            head.kind,
            head.period,
            head.scheme,
            head.region,
            sums[entry_id]["paid"],
            sums[entry_id]["personal"],
            sums[entry_id]["pooling"],
            sums[entry_id]["subsidy"],
            sums[entry_id]["after"],
        )
        for entry_id, head in heads.items()
    ]


def _is_member(conn: Connection, member_id: str) -> bool:
    return bool(conn.execute(select(exists().where(members.c.id == member_id))).scalar())
