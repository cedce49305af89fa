"""What a simulation did: its counts, read back from the ledger the workers wrote, and
(with ``trace``) every period it paid, enough to recompute each by the rules."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine, func, select

from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.store.tables import entries, pension_awards
from ledger.store.worker_tables import processed_messages


@dataclass(frozen=True, slots=True)
class Paid:
    """One period the simulation paid for a member: enough to recompute it by the rules."""

    member_id: str
    scheme: Scheme
    period: Month
    region: str
    choice: BaseChoice
    paid_on: date


@dataclass
class SimulationResult:
    seed: int
    members: int
    first: Month
    last: Month
    contributions: int = 0
    fees: int = 0
    gaps: int = 0
    gap_members: set[str] = field(default_factory=set)
    transfers: int = 0
    adjustments: int = 0
    interest_entries: int = 0
    bank_failures: int = 0
    retirees: list[tuple[str, Month]] = field(default_factory=list)
    deaths: list[tuple[str, date]] = field(default_factory=list)
    awards: int = 0
    pensions_paid: int = 0
    messages: int = 0
    workers: str = ""
    trace: list[Paid] | None = None


def tally(result: SimulationResult, engine: Engine) -> None:
    """The result's counts, read from the ledger the workers wrote."""
    with engine.connect() as conn:
        kinds: dict[str, int] = dict(
            conn.execute(select(entries.c.kind, func.count()).group_by(entries.c.kind)).all()
        )
        # No DISTINCT: SQLite would walk ix_entries_member_period for the order and look
        # up every entry's row for its kind (1.6 s at 2,000 × 30) instead of one scan (0.5 s).
        result.gap_members = set(
            conn.execute(select(entries.c.member_id).where(entries.c.kind == "arrears")).scalars()
        )
        failures = 0
        for (outcome,) in conn.execute(
            select(processed_messages.c.outcome).where(
                processed_messages.c.actor_name == "bank_deduction_batch"
            )
        ):
            counts = json.loads(outcome or "{}").get("counts", {})
            failures += counts.get("insufficient-funds", 0) + counts.get("account-closed", 0)
    result.contributions = kinds.get("contribution", 0)
    result.fees = kinds.get("fee", 0)
    result.gaps = kinds.get("arrears", 0)
    result.adjustments = kinds.get("adjustment", 0)
    result.interest_entries = kinds.get("interest", 0)
    result.bank_failures = failures
    result.pensions_paid = kinds.get("pension-payment", 0)
    with engine.connect() as conn:
        result.awards = conn.execute(select(func.count()).select_from(pension_awards)).scalar_one()
