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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Connection, extract, func, select

from ledger.domain import keys
from ledger.domain.accounts import interest as interest_account
from ledger.domain.accounts import personal
from ledger.domain.errors import BadInput, LedgerError
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy.loader import PolicySet
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


@dataclass(frozen=True, slots=True)
class Facts:
    """What crediting ``year`` needs to know of a batch of personal accounts (``load``)."""

    year: int
    names: Mapping[int, str]
    """Each account's id and name: the accounts that exist of those asked for."""
    opening: Mapping[int, int]
    deposits: Mapping[int, Sequence[Deposit]]
    credited: Mapping[str, Sequence[_Credited]]
    regions: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Decision:
    """One account's year: the entry to append (the credit, or the difference to what was
    credited), the rule that refused it, or neither (nothing is due, or credited already)."""

    item: str
    drafts: tuple[EntryDraft, ...] = ()
    refused: LedgerError | None = None


@dataclass(frozen=True, slots=True)
class Credited:
    """A decision once appended: ``created`` are the entries written now."""

    decision: Decision
    created: tuple[RecordedEntry, ...] = ()


def load(
    conn: Connection, year: int, scheme: Scheme, accounts: Sequence[str] | None = None
) -> Facts:
    """The facts ``decide`` needs for ``accounts`` (None: every personal account of
    ``scheme``): three grouped queries per chunk of accounts, and the regions."""
    prefix = f"personal:{scheme}:"
    names = _account_ids(conn, prefix, accounts)
    opening: defaultdict[int, int] = defaultdict(int)
    deposits: defaultdict[int, list[Deposit]] = defaultdict(list)
    credited: defaultdict[str, list[_Credited]] = defaultdict(list)
    for chunk in _chunks(names, accounts is not None):
        _read(conn, year, prefix, chunk, opening, deposits, credited)
    members_of = sorted(name.split(":", 2)[2] for name in names.values())
    return Facts(year, names, opening, deposits, credited, _regions(conn, members_of, scheme, year))


def decide(
    policy: PolicySet,
    facts: Facts,
    scheme: Scheme,
    today: date,
    known: datetime,
    accounts: Sequence[str] | None = None,
) -> list[Decision]:
    """Each account's decision with no I/O: the accounts found in name order, then those
    asked for that do not exist (nothing to credit). Refused, in this order: ``year`` has
    not ended by ``today``; no rate for ``year`` was known at ``known``; the account is
    not a personal account of ``scheme``."""
    year = facts.year
    refusal, record = _year_refusal(policy, year, today, known)
    prefix = f"personal:{scheme}:"
    found = sorted(facts.names.items(), key=lambda item: item[1])
    asked = [(None, a) for a in dict.fromkeys(accounts or ()) if a not in facts.names.values()]
    decisions = []
    for ident, name in [*found, *asked]:
        if refusal is not None:
            decisions.append(Decision(name, refused=refusal))
        elif not name.startswith(prefix) or name.count(":") != 2:
            bad = BadInput("accounts", f"{name!r} is not a personal account of {scheme}")
            decisions.append(Decision(name, refused=bad))
        elif ident is None:
            decisions.append(Decision(name))
        else:
            assert record is not None
            member = name.split(":", 2)[2]
            credit = credit_rule(
                year, -facts.opening.get(ident, 0), facts.deposits.get(ident, []), policy, known
            )
            draft = _draft(
                policy,
                member,
                scheme,
                year,
                facts.regions[member],
                credit,
                record,
                facts.credited.get(member, []),
            )
            decisions.append(Decision(name, () if draft is None else (draft,)))
    return decisions


def _year_refusal(
    policy: PolicySet, year: int, today: date, known: datetime
) -> tuple[LedgerError | None, InterestRate | None]:
    """Why no account can be credited ``year`` (or None), and the rate record if one can."""
    if today <= date(year, 12, 31):
        return BadInput("year", f"{year} has not ended on {today}: nothing to credit yet"), None
    try:
        rate_for(year, policy, known)
        return None, policy.at(InterestRate, date(year, 1, 1), known_at=known)
    except LedgerError as error:
        return error, None


def credit(
    ledger: Ledger,
    conn: Connection,
    year: int,
    scheme: Scheme = Scheme.PENSION,
    known_at: datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> list[Credited]:
    """Credit ``year``'s interest to every personal account of ``scheme`` (or
    ``accounts``) at the rate known at ``known_at`` (None: now): load, decide, append once."""
    now = ledger.clock.now()
    facts = load(conn, year, scheme, accounts)
    decisions = decide(ledger.policy, facts, scheme, now.date(), known_at or now, accounts)
    return _append(ledger, conn, decisions)


def _append(ledger: Ledger, conn: Connection, decisions: Sequence[Decision]) -> list[Credited]:
    drafts = [d for decision in decisions for d in decision.drafts]
    recorded = iter(ledger.recorder.append(conn, drafts))
    done = []
    for decision in decisions:
        mine = [next(recorded) for _ in decision.drafts]
        done.append(Credited(decision, tuple(r for r in mine if r.created)))
    return done


def credit_year(
    ledger: Ledger,
    conn: Connection,
    year: int,
    scheme: Scheme = Scheme.PENSION,
    known_at: datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> list[RecordedEntry]:
    """``credit``, the entries written now; the first refusal is raised, and then nothing
    is written."""
    now = ledger.clock.now()
    known = known_at or now
    refusal, _ = _year_refusal(ledger.policy, year, now.date(), known)
    if refusal is not None:
        raise refusal
    decisions = decide(
        ledger.policy, load(conn, year, scheme, accounts), scheme, now.date(), known, accounts
    )
    for decision in decisions:
        if decision.refused is not None:
            raise decision.refused
    return [r for item in _append(ledger, conn, decisions) for r in item.created]


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
    policy: PolicySet,
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
        was = policy.at(InterestRate, date(year, 1, 1), known_at=first.recorded_at)
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
