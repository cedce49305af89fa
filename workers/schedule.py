"""Job runs: what messages a run writes (fan-out) and starting them.

A run has a key that derives from its period (``bank-deduction:2025``,
``affiliate-fees:2025-07``, ``interest:2025``, ``close-year:2025``; ``#N`` appended for a
further round of the same period). It computes its members deterministically (sorted),
splits them into batches and writes one outbox message per batch, ids
``uuid5(run key / batch number)``, all in one transaction (``start``); then relays. The
same run written twice writes nothing twice, so a scheduler started twice, or a run
started by hand after the scheduler's, does nothing twice.

The periodic scheduler that starts them at their times is ``workers.scheduler``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dramatiq
from sqlalchemy import Connection, Engine, select

from ledger.domain import keys
from ledger.domain.errors import BadInput
from ledger.domain.period import Month
from ledger.domain.schemes import Scheme
from ledger.operations.fees import agency_members
from ledger.operations.interest import personal_accounts
from ledger.operations.pension_payments import awarded_members
from ledger.operations.rosters import bank_members, bank_members_in, enrolled_members
from ledger.operations.transfers import in_transit
from ledger.store.tables import enrolments
from workers import outbox

DEFAULT_BATCH = 100
# 国办发〔2009〕66号 Art. 8 gives the destination 15 working days to agree and the source
# 15 more to send: a transfer not accepted within 45 calendar days (our choice, beyond
# both) is returned to the source.
TRANSFER_TIMEOUT_DAYS = 45


@dataclass(frozen=True)
class Run:
    """A job run: its key, the actor, and the keyword arguments of each batch message.

    ``ids``: the messages' ids, when they are not ``message_id(key, n)`` (a transfer's
    steps are named by the transfer, whichever run sends them).
    """

    key: str
    actor: str
    messages: tuple[dict[str, Any], ...]
    ids: tuple[str, ...] | None = None

    def message_ids(self) -> tuple[str, ...]:
        if self.ids is not None:
            return self.ids
        return tuple(outbox.message_id(self.key, n) for n in range(len(self.messages)))


def batches(members: Sequence[Any], size: int) -> list[list[Any]]:
    if size < 1:
        raise BadInput("batch_size", f"{size} is not a positive number of members")
    return [list(members[i : i + size]) for i in range(0, len(members), size)]


def contributions_run(
    conn: Connection, scheme: Scheme, first: Month, last: Month, paid_on: date, size: int
) -> Run:
    """Every member enrolled in ``scheme`` pays ``first``..``last`` (tests, back-fills)."""
    members = sorted(
        set(
            conn.execute(
                select(enrolments.c.member_id).where(enrolments.c.scheme == scheme.value)
            ).scalars()
        )
    )
    key = keys.contributions_run(scheme, first, last, paid_on)
    common = {
        "scheme": scheme.value,
        "first": str(first),
        "last": str(last),
        "paid_on_iso": paid_on.isoformat(),
    }
    return Run(
        key,
        "post_contributions_batch",
        tuple({"run_key": key, **common, "member_ids": b} for b in batches(members, size)),
    )


def bank_deduction_run(
    conn: Connection,
    year: int,
    scheme: Scheme,
    today: date,
    seed: int,
    size: int,
    round_: int = 1,
    regions: Collection[str] | None = None,
) -> Run:
    """Every bank member's deduction of ``year`` to date; with ``regions``, only the members
    enrolled in one of them in ``today``'s month (a month-by-month region's own run: its
    months can be collected only in the month itself)."""
    key = keys.again(keys.bank_deduction_run(year, scheme, today, regions), round_)
    if regions is None:
        members = sorted(bank_members(conn, scheme, year))
    else:
        members = bank_members_in(conn, scheme, Month.of(today), regions)
    return Run(
        key,
        "bank_deduction_batch",
        tuple(
            {
                "run_key": key,
                "scheme": scheme.value,
                "year": year,
                "member_ids": b,
                "today_iso": today.isoformat(),
                "seed": seed,
            }
            for b in batches(members, size)
        ),
    )


def close_year_run(conn: Connection, year: int, scheme: Scheme, today: date, size: int) -> Run:
    """Every member enrolled in ``scheme`` during ``year``: their unpaid months whose window
    has closed become gaps, whatever the method."""
    if today <= date(year, 12, 31):
        raise BadInput("year", f"{year} has not ended on {today}: its months may still be paid")
    key = keys.close_year_run(year, scheme)
    members = enrolled_members(conn, scheme, year)
    return Run(
        key,
        "close_year_batch",
        tuple(
            {
                "run_key": key,
                "scheme": scheme.value,
                "year": year,
                "member_ids": b,
                "today_iso": today.isoformat(),
            }
            for b in batches(members, size)
        ),
    )


def affiliate_fees_run(conn: Connection, month: Month, today: date, size: int) -> Run:

    key = keys.affiliate_fees_run(month)
    pairs = sorted([member, scheme.value] for member, scheme in agency_members(conn, month))
    return Run(
        key,
        "affiliate_fees_batch",
        tuple(
            {"run_key": key, "month": str(month), "pairs": b, "today_iso": today.isoformat()}
            for b in batches(pairs, size)
        ),
    )


def interest_run(conn: Connection, year: int, scheme: Scheme, size: int, round_: int = 1) -> Run:

    key = keys.again(keys.interest_run(year, scheme), round_)
    accounts = sorted(personal_accounts(conn, scheme))
    return Run(
        key,
        "interest_batch",
        tuple(
            {"run_key": key, "scheme": scheme.value, "year": year, "accounts": b}
            for b in batches(accounts, size)
        ),
    )


def pensions_run(conn: Connection, month: Month, today: date, size: int) -> Run:
    """Every member whose pension is due for ``month`` (``pension_payments_batch``)."""
    if today < month.first_day:
        raise BadInput("today", f"{month}'s pensions cannot be paid before it, on {today}")
    key = keys.pensions_run(month)
    return Run(
        key,
        "pension_payments_batch",
        tuple(
            {"run_key": key, "month": str(month), "member_ids": b, "today_iso": today.isoformat()}
            for b in batches(awarded_members(conn, month), size)
        ),
    )


def transfer_run(transfer_id: str, on: date) -> Run:
    """The first step of a transfer; the worker chains the next through the outbox."""
    key = keys.transfer_run(transfer_id)
    return Run(
        key,
        "transfer_step",
        ({"transfer_id": transfer_id, "step": "request", "on_iso": on.isoformat()},),
        (outbox.message_id(key, "request"),),
    )


def transfers_run(key: str, transfer_ids: Sequence[str], on: date) -> Run:
    """Many transfers of one day in one message (``transfers_batch``); the worker chains
    one ``accept`` message for all that went out."""
    return Run(
        key,
        "transfers_batch",
        (
            {
                "run_key": key,
                "step": "request",
                "transfer_ids": list(transfer_ids),
                "on_iso": on.isoformat(),
            },
        ),
    )


def transfer_timeouts_run(conn: Connection, today: date, after_days: int) -> Run:
    """Return every transfer still in transit ``after_days`` after it left.

    Each return message has the id ``message_id("transfer:<id>", "return")``: whichever
    sweep sends it, a transfer is returned once.
    """
    if after_days < 0:
        raise BadInput("after_days", f"{after_days} is not a number of days (0 or more)")
    key = keys.transfer_timeouts_run(today)
    late = in_transit(conn, left_by=today - timedelta(days=after_days))
    common = {"step": "return", "on_iso": today.isoformat(), "run_key": key}
    reason = f"not accepted within {after_days} days"
    return Run(
        key,
        "transfer_step",
        tuple({"transfer_id": t, **common, "reason": reason} for t in late),
        tuple(outbox.message_id(keys.transfer_run(t), "return") for t in late),
    )


def write(conn: Connection, run: Run, now: Any = None) -> int:
    """Write the run's messages in the caller's transaction; returns how many were new."""
    return sum(
        outbox.enqueue(conn, run.actor, kwargs, message_id, run_key=run.key, now=now)
        for message_id, kwargs in zip(run.message_ids(), run.messages, strict=True)
    )


def start(
    engine: Engine, build: Callable[[Connection], Run], broker: dramatiq.Broker
) -> tuple[Run, int]:
    """Plan and write a run in one transaction, then relay the outbox; (run, new messages)."""
    with engine.begin() as conn:
        run = build(conn)
        written = write(conn, run)
    outbox.relay_all(engine, broker)
    return run, written


# --- the periodic scheduler -------------------------------------------------------------
