"""Crediting personal accounts once a year (记账利率, DOMAIN.md §4).

For each ``personal:<scheme>:<member>`` account, the year's interest is
``ledger.domain.rules.interest.credit_year`` on the opening balance (postings effective before
1 January, interest of earlier years included: years compound) and the year's deposits by
month (every other posting of the year: contributions, adjustments, corrections,
transfers). It is posted as one ``interest`` entry dated 31 December: debit
``interest:<scheme>:<region>`` (the region of the enrolment in force in December, else the
member's), credit the personal account. Being an interest entry, it is not a deposit of
its own year, and being dated 31 December it opens the next one.

Idempotency keys: ``interest:<year>:<scheme>:<member>`` for the credit. Run again, the year
is recomputed with the policy known now; a difference is posted as a new ``interest``
entry that ``corrects`` the credit: key ``…:<year>:rate-<published>`` when the rate known now
is not the one credited (a provisional rate replaced by the official one), else
``…:<year>:recalc-<n>`` (the opening or deposits changed after crediting, e.g. a correction
of the year before). No difference, nothing written. Amounts are integer fen; the rule
rounds once per year.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Connection, extract, func, select

from ledger.domain import keys
from ledger.domain.accounts import interest as interest_account
from ledger.domain.accounts import personal
from ledger.domain.errors import BadInput
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy.records import InterestRate
from ledger.domain.rules.interest import Deposit, InterestCredit, rate_for
from ledger.domain.rules.interest import credit_year as credit_rule
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.store.recorder import RecordedEntry
from ledger.store.tables import accounts, enrolments, entries, members, postings

CHUNK = 500


@dataclass(frozen=True, slots=True)
class _Credited:
    key: str
    entry_id: int
    recorded_at: datetime
    amount_fen: int  # credited to the personal account, credit positive


def personal_accounts(conn: Connection, scheme: Scheme = Scheme.PENSION) -> list[str]:
    """Every personal account of ``scheme``, by name (for fanning out in batches)."""
    return list(
        conn.execute(
            select(accounts.c.name)
            .where(accounts.c.name.like(f"personal:{scheme}:%"))
            .order_by(accounts.c.name)
        ).scalars()
    )


def credit_year(
    ledger: Ledger,
    conn: Connection,
    year: int,
    scheme: Scheme = Scheme.PENSION,
    known_at: datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> list[RecordedEntry]:
    """Credit ``year``'s interest to every personal account of ``scheme`` (or ``accounts``).

    The rate is the one known at ``known_at`` (None: now). Returns the entries written.
    """
    now = ledger.clock.now()
    if now.date() <= date(year, 12, 31):
        raise BadInput("year", f"{year} has not ended on {now.date()}: nothing to credit yet")
    known = known_at or now
    rate_for(year, ledger.policy, known)  # refuses a year without a rate known by then
    record = ledger.policy.at(InterestRate, date(year, 1, 1), known_at=known)
    prefix = f"personal:{scheme}:"
    for name in accounts or ():
        if not name.startswith(prefix) or name.count(":") != 2:
            raise BadInput("accounts", f"{name!r} is not a personal account of {scheme}")
    names = _account_ids(conn, prefix, accounts)
    opening: defaultdict[int, int] = defaultdict(int)
    deposits: defaultdict[int, list[Deposit]] = defaultdict(list)
    credited: defaultdict[str, list[_Credited]] = defaultdict(list)
    for chunk in _chunks(names, accounts is not None):
        _read(conn, year, prefix, chunk, opening, deposits, credited)
    member_of = {ident: name.split(":", 2)[2] for ident, name in names.items()}
    regions = _regions(conn, sorted(member_of.values()), scheme, year)
    drafts = []
    for ident, _name in sorted(names.items(), key=lambda item: item[1]):
        member = member_of[ident]
        credit = credit_rule(year, -opening[ident], deposits[ident], ledger.policy, known)
        draft = _draft(
            ledger, member, scheme, year, regions[member], credit, record, credited[member]
        )
        if draft is not None:
            drafts.append(draft)
    return [r for r in ledger.recorder.append(conn, drafts) if r.created]


def _account_ids(conn: Connection, prefix: str, given: Sequence[str] | None) -> dict[int, str]:
    if given is None:
        query = select(accounts.c.id, accounts.c.name).where(accounts.c.name.like(f"{prefix}%"))
        return {row.id: row.name for row in conn.execute(query)}
    found: dict[int, str] = {}
    wanted = sorted(set(given))
    for start in range(0, len(wanted), CHUNK):
        query = select(accounts.c.id, accounts.c.name).where(
            accounts.c.name.in_(wanted[start : start + CHUNK])
        )
        found.update({row.id: row.name for row in conn.execute(query)})
    return found


def _chunks(names: dict[int, str], given: bool) -> list[ColumnElement[bool] | None]:
    """Filters on postings.account_id: one per chunk of given accounts, or none (all)."""
    if not given:
        return [None] if names else []
    ids = sorted(names)
    return [postings.c.account_id.in_(ids[s : s + CHUNK]) for s in range(0, len(ids), CHUNK)]


def _read(
    conn: Connection,
    year: int,
    prefix: str,
    chosen: ColumnElement[bool] | None,
    opening: defaultdict[int, int],
    deposits: defaultdict[int, list[Deposit]],
    credited: defaultdict[str, list[_Credited]],
) -> None:
    """Three grouped queries: openings, the year's deposits by month, interest credited."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    mine = accounts.c.name.like(f"{prefix}%")
    where = (
        [chosen]
        if chosen is not None
        else [postings.c.account_id.in_(select(accounts.c.id).where(mine))]
    )
    for row in conn.execute(
        select(postings.c.account_id, func.sum(postings.c.amount_fen).label("total"))
        .where(postings.c.effective_date < first, *where)
        .group_by(postings.c.account_id)
    ):
        opening[row.account_id] = int(row.total)
    month = extract("month", postings.c.effective_date)
    for row in conn.execute(
        select(
            postings.c.account_id,
            month.label("month"),
            func.sum(postings.c.amount_fen).label("total"),
        )
        .join(entries, entries.c.id == postings.c.entry_id)
        .where(
            postings.c.effective_date >= first,
            postings.c.effective_date <= last,
            entries.c.kind != EntryKind.INTEREST.value,
            *where,
        )
        .group_by(postings.c.account_id, month)
        .order_by(postings.c.account_id, month)
    ):
        if row.total:
            deposits[row.account_id].append(Deposit(Month(year, int(row.month)), -int(row.total)))
    for row in conn.execute(
        select(
            entries.c.member_id,
            entries.c.idempotency_key,
            entries.c.id,
            entries.c.recorded_at,
            postings.c.amount_fen,
        )
        .join(postings, postings.c.entry_id == entries.c.id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        # postings.effective_date (a copy of the entry's) lets the index seek straight to
        # 31 December of each account instead of reading its whole history.
        .where(
            entries.c.kind == EntryKind.INTEREST.value,
            entries.c.effective_date == last,
            postings.c.effective_date == last,
            mine,
            *where,
        )
        .order_by(entries.c.id)
    ):
        credited[row.member_id].append(
            _Credited(row.idempotency_key, row.id, row.recorded_at, -row.amount_fen)
        )


def _regions(conn: Connection, member_ids: list[str], scheme: Scheme, year: int) -> dict[str, str]:
    """Each member's region at the end of ``year``: the enrolment in force in December."""
    found: dict[str, str] = {}
    december = Month(year, 12)
    for start in range(0, len(member_ids), CHUNK):
        chunk = member_ids[start : start + CHUNK]
        for row in conn.execute(
            select(members.c.id, members.c.region).where(members.c.id.in_(chunk))
        ):
            found[row.id] = row.region
        # Ledger.enrolment_for in SQL and a loop: the latest enrolment starting by December
        # (months are YYYY-MM text, so they compare as strings), unless it ended before.
        latest: dict[str, tuple[str, str | None]] = {}
        for row in conn.execute(
            select(enrolments.c.member_id, enrolments.c.region, enrolments.c.to_month)
            .where(
                enrolments.c.member_id.in_(chunk),
                enrolments.c.scheme == scheme.value,
                enrolments.c.from_month <= str(december),
            )
            .order_by(enrolments.c.from_month, enrolments.c.id)
        ):
            latest[row.member_id] = (row.region, row.to_month)
        for member_id, (region, to_month) in latest.items():
            if to_month is None or str(december) <= to_month:
                found[member_id] = region
    return found


def _draft(
    ledger: Ledger,
    member: str,
    scheme: Scheme,
    year: int,
    region: str,
    credit: InterestCredit,
    record: InterestRate,
    done: list[_Credited],
) -> EntryDraft | None:
    """The credit, or the difference to what was credited, or None when nothing is due."""
    base_key = keys.interest(year, scheme, member)
    status = "provisional" if credit.provisional else "official"
    reason = (
        f"{year} interest at {_percent(credit.rate)} ({status}, {credit.source}) on opening "
        f"{format_yuan(credit.opening_fen)} and deposits {format_yuan(credit.deposits_fen)} "
        f"({credit.method})"
    )
    amount, key, corrects = credit.interest_fen, base_key, None
    if done:
        amount -= sum(c.amount_fen for c in done)
        first = next((c for c in done if c.key == base_key), done[0])
        corrects = first.entry_id
        was = ledger.policy.at(InterestRate, date(year, 1, 1), known_at=first.recorded_at)
        credited = {c.key for c in done}
        key = keys.interest_rate_change(base_key, record.known_from)
        if was != record and key not in credited:
            reason = (
                f"{year} rate {_percent(was.rate)} ({was.status}) → {_percent(record.rate)} "
                f"({record.status}, published {record.known_from}, {record.source}): "
                f"difference to the credit of entry {first.entry_id}"
            )
        else:
            key = keys.interest_recalculation(base_key, len(done))
            reason = f"{reason}: recalculated, the opening or deposits changed since crediting"
    if amount == 0:
        return None
    return EntryDraft.build(
        kind=EntryKind.INTEREST,
        effective_date=date(year, 12, 31),
        idempotency_key=key,
        reason=reason,
        member_id=member,
        scheme=scheme.value,
        region=region,
        corrects=corrects,
        postings=[
            (interest_account(scheme.value, region), amount),
            (personal(scheme.value, member), -amount),
        ],
    )


def _percent(rate: Decimal) -> str:
    """``Decimal("0.0262")`` → ``"2.62%"``."""
    return f"{(rate * 100).normalize():f}%"
