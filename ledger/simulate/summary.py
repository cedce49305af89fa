"""The figures a simulation ends with, read back from the ledger itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select

from ledger.money import format_yuan
from ledger.simulate.engine import SimulationResult
from ledger.store.balances import pooling_by_region, trial_balance
from ledger.store.tables import entries, postings


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
    messages: int
    workers: str
    pooling_fen: dict[str, int]
    personal_fen: int
    trial_balance_fen: int
    seconds: float

    def as_json(self) -> dict[str, object]:
        return {
            "members": self.members, "entries": self.entries, "postings": self.postings,
            "contributions": self.contributions, "fees": self.fees,
            "adjustments": self.adjustments, "interest_entries": self.interest_entries,
            "gaps": self.gaps, "members_with_gaps": self.members_with_gaps,
            "transfers": self.transfers, "bank_failures": self.bank_failures,
            "retirees": self.retirees, "worker_messages": self.messages,
            "workers": self.workers,
            "pooling": {k: format_yuan(v) for k, v in self.pooling_fen.items()},
            "personal_total": format_yuan(self.personal_fen),
            "trial_balance_total": format_yuan(self.trial_balance_fen),
            "seconds": round(self.seconds, 1),
            "contributions_per_second": round(self.contributions / self.seconds)
            if self.seconds else None,
        }  # fmt: skip


def summarise(conn: Connection, result: SimulationResult, as_of: date, seconds: float) -> Summary:
    count = lambda table: conn.execute(select(func.count()).select_from(table)).scalar_one()  # noqa: E731
    lines = trial_balance(conn, as_of)
    pooling = {f"{scheme}:{region}": amount for scheme, region, amount in
               pooling_by_region(conn, as_of)}  # fmt: skip
    personal = -sum(a for name, a in lines if name.startswith("personal:"))
    return Summary(
        members=result.members, entries=count(entries), postings=count(postings),
        contributions=result.contributions, fees=result.fees, adjustments=result.adjustments,
        interest_entries=result.interest_entries, gaps=result.gaps,
        members_with_gaps=len(result.gap_members), transfers=result.transfers,
        bank_failures=result.bank_failures, retirees=len(result.retirees),
        messages=result.messages, workers=result.workers,
        pooling_fen=pooling, personal_fen=personal,
        trial_balance_fen=sum(a for _, a in lines), seconds=seconds,
    )  # fmt: skip
