"""The figures a simulation ends with, read back from the ledger itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select

from ledger.domain.money import format_yuan
from ledger.simulate.result import SimulationResult
from ledger.store.tables import accounts, entries, postings
from ledger.store.totals import pooling_by_region, trial_balance


@dataclass(frozen=True)
class Summary:
    members: int
    entries: int
    postings: int
    contributions: int
    fees: int
    adjustments: int
    interest_entries: int
    gaps: int
    members_with_gaps: int
    transfers: int
    bank_failures: int
    retirees: int
    awards: int
    pensions_paid: int
    deaths: int
    messages: int
    workers: str
    pooling_fen: dict[str, int]
    pensions_out_fen: dict[str, int]
    personal_fen: int
    trial_balance_fen: int
    seconds: float

    def as_json(self) -> dict[str, object]:
        return {
            "members": self.members,
            "entries": self.entries,
            "postings": self.postings,
            "contributions": self.contributions,
            "fees": self.fees,
            "adjustments": self.adjustments,
            "interest_entries": self.interest_entries,
            "gaps": self.gaps,
            "members_with_gaps": self.members_with_gaps,
            "transfers": self.transfers,
            "bank_failures": self.bank_failures,
            "retirees": self.retirees,
            "pension_awards": self.awards,
            "pensions_paid": self.pensions_paid,
            "deaths": self.deaths,
            "worker_messages": self.messages,
            "workers": self.workers,
            "pooling": {k: format_yuan(v) for k, v in self.pooling_fen.items()},
            "pensions_from_pooling": {k: format_yuan(v) for k, v in self.pensions_out_fen.items()},
            "personal_total": format_yuan(self.personal_fen),
            "trial_balance_total": format_yuan(self.trial_balance_fen),
            "seconds": round(self.seconds, 1),
            "contributions_per_second": round(self.contributions / self.seconds)
            if self.seconds
            else None,
        }


def summarise(conn: Connection, result: SimulationResult, as_of: date, seconds: float) -> Summary:
    count = lambda table: conn.execute(select(func.count()).select_from(table)).scalar_one()  # noqa: E731
    lines = trial_balance(conn, as_of)
    pooling = {
        f"{scheme}:{region}": amount for scheme, region, amount in pooling_by_region(conn, as_of)
    }
    personal = -sum(a for name, a in lines if name.startswith("personal:"))
    # Money out of the pooling funds: the pensions they paid (debits), by region.
    out = {
        name.removeprefix("pooling:"): int(total)
        for name, total in conn.execute(
            select(accounts.c.name, func.sum(postings.c.amount_fen))
            .join(postings, postings.c.account_id == accounts.c.id)
            .join(entries, entries.c.id == postings.c.entry_id)
            .where(entries.c.kind == "pension-payment", accounts.c.name.like("pooling:%"))
            .group_by(accounts.c.name)
            .order_by(accounts.c.name)
        )
    }
    return Summary(
        members=result.members,
        entries=count(entries),
        postings=count(postings),
        contributions=result.contributions,
        fees=result.fees,
        adjustments=result.adjustments,
        interest_entries=result.interest_entries,
        gaps=result.gaps,
        members_with_gaps=len(result.gap_members),
        transfers=result.transfers,
        bank_failures=result.bank_failures,
        retirees=len(result.retirees),
        awards=result.awards,
        pensions_paid=result.pensions_paid,
        deaths=len(result.deaths),
        messages=result.messages,
        workers=result.workers,
        pooling_fen=pooling,
        pensions_out_fen=out,
        personal_fen=personal,
        trial_balance_fen=sum(a for _, a in lines),
        seconds=seconds,
    )
