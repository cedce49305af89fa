"""What ``flexledger report`` shows, read from the ledger: the series its plots draw and
its tables. Two tables from the ledger's own history: contributors per pensioner by region and year
(``support_ratios``), and what each base percent actually bought (``cost_effectiveness``:
the pensions awarded per yuan the awarded members paid). Everything is read from the
ledger or computed by the rules; nothing is cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import Connection, String, case, cast, func, select

from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.rules.contribution import BaseChoice, assess
from ledger.domain.rules.pension import calculation_base, contribution_index, estimate_pension
from ledger.domain.schemes import Scheme
from ledger.store.tables import accounts, enrolments, entries, pension_awards, postings
from ledger.store.totals import pooling_by_region, trial_balance

PERCENTS = ("60", "100", "150", "200", "300")
YEARS = (15, 20, 25, 30, 35)


@dataclass(frozen=True)
class Figures:
    member: str | None
    member_balance: list[tuple[Month, int]]
    pooling_by_year: dict[str, list[tuple[int, int]]]
    pensions: dict[str, list[tuple[int, int]]]
    pooling_now: list[tuple[str, str, int]]
    flows: list[FundYear]
    counts: dict[str, int]
    as_of: date
    support: list[SupportRatio] = field(default_factory=list)
    value: list[BaseValue] = field(default_factory=list)


def busiest_member(conn: Connection) -> str | None:
    row = conn.execute(
        select(entries.c.member_id, func.count().label("n"))
        .where(entries.c.member_id.is_not(None), entries.c.scheme == "pension")
        .group_by(entries.c.member_id)
        .order_by(func.count().desc(), entries.c.member_id)
        .limit(1)
    ).first()
    return row.member_id if row else None


def _monthly_balance(conn: Connection, account: str) -> list[tuple[Month, int]]:
    """Credit balance at the end of every month with a posting (one grouped query)."""
    month = func.substr(cast(postings.c.effective_date, String), 1, 7)
    rows = conn.execute(
        select(month.label("m"), func.sum(postings.c.amount_fen))
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(accounts.c.name == account)
        .group_by(month)
        .order_by(month)
    ).all()
    running, series = 0, []
    for label, total in rows:
        running -= int(total)
        series.append((Month.parse(label), running))
    return series


@dataclass(frozen=True, slots=True)
class FundYear:
    """A pooling fund's year: money in (credits: contributions, transfers in), money out
    (debits: transfers out, pensions, corrections), and the fund at the year's end; fen."""

    scheme: str
    region: str
    year: int
    in_fen: int
    out_fen: int
    end_fen: int


def pooling_flows(conn: Connection) -> list[FundYear]:
    """Every pooling fund's money in and out by year, from its postings (credit-positive)."""
    year = func.substr(cast(postings.c.effective_date, String), 1, 4)
    credit = func.sum(case((postings.c.amount_fen < 0, -postings.c.amount_fen), else_=0))
    debit = func.sum(case((postings.c.amount_fen > 0, postings.c.amount_fen), else_=0))
    rows = conn.execute(
        select(accounts.c.name, year.label("y"), credit, debit)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(accounts.c.name.like("pooling:%"))
        .group_by(accounts.c.name, year)
        .order_by(accounts.c.name, year)
    ).all()
    found: list[FundYear] = []
    held: dict[str, int] = {}
    for name, label, money_in, money_out in rows:
        _, scheme, region = name.split(":", 2)
        held[name] = held.get(name, 0) + int(money_in) - int(money_out)
        found.append(
            FundYear(scheme, region, int(label), int(money_in), int(money_out), held[name])
        )
    return found


def pooling_by_year(flows: list[FundYear]) -> dict[str, list[tuple[int, int]]]:
    """Each fund's balance at the end of each year, keyed ``<scheme>:<region>`` (the plot's
    lines), from the flows already read: one pass over the pooling postings, not two."""
    series: dict[str, list[tuple[int, int]]] = {}
    for f in flows:
        series.setdefault(f"{f.scheme}:{f.region}", []).append((f.year, f.end_fen))
    return series


@dataclass(frozen=True, slots=True)
class SupportRatio:
    """One region's year in the pension scheme: members with a contribution for a month of
    that year (by the month paid for, ``period``), members paid a pension for a month of
    it, and contributors per pensioner (None without pensioners)."""

    region: str
    year: int
    contributors: int
    pensioners: int

    @property
    def ratio(self) -> Fraction | None:
        return Fraction(self.contributors, self.pensioners) if self.pensioners else None


def support_ratios(conn: Connection) -> list[SupportRatio]:
    """Contributors and pensioners of the pension scheme by region and year (two grouped
    queries over ``entries``: ``contribution`` and ``pension-payment`` entries, each member
    counted once a region and year)."""
    year = func.substr(entries.c.period, 1, 4)

    def counted(kind: str) -> dict[tuple[str, int], int]:
        rows = conn.execute(
            select(entries.c.region, year.label("y"), func.count(entries.c.member_id.distinct()))
            .where(
                entries.c.kind == kind,
                entries.c.scheme == Scheme.PENSION.value,
                entries.c.period.is_not(None),
            )
            .group_by(entries.c.region, year)
        ).all()
        return {(r, int(y)): int(n) for r, y, n in rows}

    paying, drawing = counted("contribution"), counted("pension-payment")
    return [
        SupportRatio(r, y, paying.get((r, y), 0), drawing.get((r, y), 0))
        for r, y in sorted(paying.keys() | drawing.keys())
    ]


@dataclass(frozen=True, slots=True)
class BaseValue:
    """What members who chose one base percent bought: ``members`` awarded a pension,
    ``paid_fen`` all they paid into the pension scheme (contribution entries: personal and
    pooling shares), ``pension_fen`` their monthly pensions at the award, summed."""

    base: str
    members: int
    paid_fen: int
    pension_fen: int

    @property
    def per_yuan(self) -> Fraction:
        """Monthly pension bought per yuan paid (fen per fen)."""
        return Fraction(self.pension_fen, self.paid_fen) if self.paid_fen else Fraction(0)


def cost_effectiveness(conn: Connection) -> list[BaseValue]:
    """Awarded members grouped by the base of their last employee pension enrolment
    (``60%``, ``100%``…, or ``fixed amount``), with what they paid and the pensions awarded."""
    latest = (
        select(enrolments.c.member_id, func.max(enrolments.c.id).label("id"))
        .where(enrolments.c.scheme == Scheme.PENSION.value)
        .group_by(enrolments.c.member_id)
        .subquery()
    )
    chosen = dict(
        conn.execute(
            select(enrolments.c.member_id, enrolments.c.base_percent).join(
                latest, latest.c.id == enrolments.c.id
            )
        ).all()
    )
    credit = func.sum(case((postings.c.amount_fen < 0, -postings.c.amount_fen), else_=0))
    paid = dict(
        conn.execute(
            select(entries.c.member_id, credit)
            .join(postings, postings.c.entry_id == entries.c.id)
            .where(
                entries.c.kind == "contribution",
                entries.c.scheme == Scheme.PENSION.value,
                entries.c.member_id.in_(select(pension_awards.c.member_id)),
            )
            .group_by(entries.c.member_id)
        ).all()
    )
    groups: dict[str, list[int]] = {}
    for member, total in conn.execute(
        select(pension_awards.c.member_id, pension_awards.c.total_fen)
    ):
        percent = chosen.get(member)
        key = f"{Decimal(percent).normalize():f}%" if percent else "fixed amount"
        group = groups.setdefault(key, [0, 0, 0])
        group[0] += 1
        group[1] += int(paid.get(member, 0))
        group[2] += int(total)

    def order(key: str) -> tuple[int, Decimal]:
        return (1, Decimal(0)) if key == "fixed amount" else (0, Decimal(key[:-1]))

    return [BaseValue(k, *groups[k]) for k in sorted(groups, key=order)]


def _decimal_text(value: Fraction | None, places: int) -> str:
    if value is None:
        return "-"
    scaled = round(value * 10**places)
    return f"{scaled // 10**places}.{scaled % 10**places:0{places}d}"


def support_rows(figures: Figures) -> list[dict[str, object]]:
    """The support ratios as printed and in ``--json`` (ratio to 2 decimals, or null)."""
    return [
        {
            "region": s.region,
            "year": s.year,
            "contributors": s.contributors,
            "pensioners": s.pensioners,
            "ratio": None if s.ratio is None else _decimal_text(s.ratio, 2),
        }
        for s in figures.support
    ]


def value_rows(figures: Figures) -> list[dict[str, object]]:
    """Cost-effectiveness by base as printed and in ``--json``: yuan, and the monthly
    pension per 10,000 yuan paid (yuan, 2 decimals)."""
    return [
        {
            "base": v.base,
            "members": v.members,
            "paid": format_yuan(v.paid_fen),
            "monthly_pension": format_yuan(v.pension_fen),
            "pension_per_10000_paid": _decimal_text(v.per_yuan * 10_000, 2),
        }
        for v in figures.value
    ]


def projected_pensions(
    policy: PolicySet, region: str, on: Month
) -> dict[str, list[tuple[int, int]]]:
    """Monthly pension (fen) by base percent and contribution years, at age 60, no interest.

    The personal account is the personal share of every month at today's figures; the
    basic pension uses the region's calculation base and the index of the base actually
    paid (``contribution_index``: the 60% base is the rounded floor, so Beijing 2025's
    index is 7,162 / 11,937, not 0.60; DOMAIN.md §6).
    """
    c_base = calculation_base(region, on.first_day, policy)
    found: dict[str, list[tuple[int, int]]] = {}
    for percent in PERCENTS:
        monthly = assess(policy, region, Scheme.PENSION, on, BaseChoice.of(percent=percent))
        assert monthly.base_fen is not None
        index = contribution_index(monthly.base_fen, region, on.first_day, policy)
        for years in YEARS:
            estimate = estimate_pension(
                calculation_base_fen=c_base,
                yearly_indices=[index] * years,
                contribution_months=years * 12,
                personal_balance_fen=monthly.personal_fen * years * 12,
                age_years=60,
                extra_months=0,
                retirement_year=on.year,
                policy=policy,
            )
            found.setdefault(percent, []).append((years, estimate.total_fen))
    return found


def gather(conn: Connection, policy: PolicySet, as_of: date, member: str | None) -> Figures:
    member = member or busiest_member(conn)
    count = lambda t: conn.execute(select(func.count()).select_from(t)).scalar_one()  # noqa: E731
    lines = trial_balance(conn, as_of)
    flows = pooling_flows(conn)
    return Figures(
        member=member,
        member_balance=_monthly_balance(conn, f"personal:pension:{member}") if member else [],
        pooling_by_year=pooling_by_year(flows),
        pensions=projected_pensions(policy, "110000", Month.of(as_of)),
        pooling_now=pooling_by_region(conn, as_of),
        flows=flows,
        counts={
            "entries": count(entries),
            "postings": count(postings),
            "accounts": count(accounts),
            "trial balance total (fen)": sum(a for _, a in lines),
        },
        as_of=as_of,
        support=support_ratios(conn),
        value=cost_effectiveness(conn),
    )
