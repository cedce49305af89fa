"""The jobs through the workers: bank deduction, closing the year, affiliate fees,
interest and a transfer, on the stub broker and on Redis, SQLite and PostgreSQL.

Expected results are computed without the workers (the simulated bank's answer is a pure
function of the seed and the reference).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from ledger.config import Settings
from ledger.domain import keys
from ledger.domain.errors import UnknownAccount
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.bank import BankOutcome, SimulatedBank, reference_for
from ledger.operations.transfers import (
    TransferStatus,
    find_transfer,
    in_transit,
    request_transfer,
)
from ledger.store.balances import balance
from ledger.store.tables import entries
from workers import runtime, schedule
from workers.outbox import progress

from .conftest import enrol, join, ledger_for, member_id

PENSION = Scheme.PENSION
SEED, RATE = 7, "0.3"


def kinds(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(entries.c.kind, func.count()).group_by(entries.c.kind))
        return dict(rows.all())


def with_failure_rate(engine, empty_database, rate: str) -> None:
    settings = replace(Settings(database_url=empty_database.url), bank_failure_rate=rate)
    runtime.configure(settings, engine=engine)


def test_bank_deduction_posts_the_months_the_bank_paid_and_close_year_records_the_rest(
    engine, empty_database, broker, worker
):
    members = enrol(engine, 30, method="bank", signed_on=date(2025, 6, 10))
    with_failure_rate(engine, empty_database, RATE)
    bank = SimulatedBank(SEED, Decimal(RATE))
    paid = [
        m
        for m in members
        if bank.outcome_for(reference_for(m, PENSION, 2025, date(2025, 12, 1))) is BankOutcome.OK
    ]
    assert 0 < len(paid) < len(members)  # the seed gives both outcomes

    run, _ = schedule.start(
        engine,
        lambda c: schedule.bank_deduction_run(c, 2025, PENSION, date(2025, 12, 1), SEED, 8),
        broker,
    )
    join(broker)
    state = progress(engine, run.key)
    assert (run.key, state["done"], state["failed"]) == ("bank-deduction:2025", 4, 0)
    # The agreement signed in June collects from July: six months each, in one call.
    assert kinds(engine) == {"contribution": 6 * len(paid)}
    assert state["posted"] == 6 * len(paid)

    run, _ = schedule.start(
        engine, lambda c: schedule.close_year_run(c, 2025, PENSION, date(2026, 1, 2), 8), broker
    )
    join(broker)
    unpaid = len(members) - len(paid)
    assert kinds(engine) == {"contribution": 6 * len(paid), "arrears": 6 * unpaid}
    assert progress(engine, run.key)["posted"] == 6 * unpaid


def test_affiliate_fees_post_the_contribution_and_the_companys_fee(engine, broker, worker):
    enrol(engine, 7, method="agency", agency="hr-co")
    run, _ = schedule.start(
        engine,
        lambda c: schedule.affiliate_fees_run(c, Month(2025, 10), date(2025, 10, 20), 3),
        broker,
    )
    join(broker)
    assert kinds(engine) == {"contribution": 7, "fee": 7}
    assert (run.key, progress(engine, run.key)["done"]) == ("affiliate-fees:2025-10", 3)


def test_interest_is_credited_once_per_personal_account(engine, broker, worker):
    enrol(engine, 5)
    for build in (
        lambda c: schedule.contributions_run(
            c, PENSION, Month(2025, 7), Month(2025, 9), date(2025, 10, 10), 2
        ),
        lambda c: schedule.interest_run(c, 2025, PENSION, 2),
        lambda c: schedule.interest_run(c, 2025, PENSION, 2),  # the same run again: nothing
    ):
        schedule.start(engine, build, broker)
        join(broker)
    assert kinds(engine) == {"contribution": 15, "interest": 5}
    assert progress(engine, "interest:2025")["done"] == 3


def test_a_transfer_chains_its_steps_through_the_outbox(engine, broker, worker):
    [member] = enrol(engine, 1)
    schedule.start(
        engine,
        lambda c: schedule.contributions_run(
            c, PENSION, Month(2025, 7), Month(2025, 9), date(2025, 10, 10), 1
        ),
        broker,
    )
    join(broker)
    transfer_id = keys.transfer_id(member, PENSION, "310000", date(2025, 11, 3))
    schedule.start(engine, lambda c: schedule.transfer_run(transfer_id, date(2025, 11, 3)), broker)
    join(broker)  # the request's worker relays the accept step before acknowledging
    with engine.connect() as conn:
        found = find_transfer(conn, transfer_id)
    assert found is not None and found.status is TransferStatus.IN
    state = progress(engine, f"transfer:{transfer_id}")
    assert (state["done"], state["failed"]) == (2, 0)


def _pay_three_months(engine, broker, member: str) -> None:
    schedule.start(
        engine,
        lambda c: schedule.contributions_run(
            c, PENSION, Month(2025, 7), Month(2025, 9), date(2025, 10, 10), 1
        ),
        broker,
    )
    join(broker)


def _balances(engine, member: str) -> dict[str, int]:
    """Balances at mid-2026 (0 for an account never opened)."""

    def of(conn, name: str) -> int:
        try:
            return balance(conn, name, date(2026, 6, 30))
        except UnknownAccount:
            return 0

    with engine.connect() as conn:
        return {
            name: of(conn, name)
            for name in (
                f"personal:pension:{member}",
                "pooling:pension:110000",
                "transit:pension",
            )
        }


def test_a_transfer_the_destination_refuses_goes_back_to_the_source(engine, broker, worker):
    """A base of 7,200 yuan is inside Beijing's 2025 range (7,162–35,811) and below
    Shanghai's floor (7,460, DOMAIN.md §8): Shanghai cannot enrol the member, so the
    money returns, in the accept step's own transaction."""
    ledger = ledger_for(engine)
    member = member_id(500)
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, member, "110000")
        ledger.enroll(
            conn, member, PENSION, "110000", BaseChoice(amount_fen=720_000), Month(2025, 7)
        )
    _pay_three_months(engine, broker, member)
    before = _balances(engine, member)
    assert before["transit:pension"] == 0 and before[f"personal:pension:{member}"] < 0

    transfer_id = keys.transfer_id(member, PENSION, "310000", date(2025, 11, 3))
    schedule.start(engine, lambda c: schedule.transfer_run(transfer_id, date(2025, 11, 3)), broker)
    join(broker)

    with engine.connect() as conn:
        found = find_transfer(conn, transfer_id)
    assert found is not None and found.status is TransferStatus.RETURNED
    assert found.returned_because is not None
    assert "rejected by the destination" in found.returned_because
    assert "7460" in found.returned_because.replace(",", "")
    assert _balances(engine, member) == before
    assert kinds(engine) == {"contribution": 3, "transfer-out": 1, "transfer-return": 1}
    state = progress(engine, f"transfer:{transfer_id}")
    assert (state["done"], state["failed"]) == (2, 0)


def test_a_transfer_not_accepted_in_time_is_returned_once_by_the_timeout_sweep(
    engine, broker, worker
):
    [member] = enrol(engine, 1)
    _pay_three_months(engine, broker, member)
    before = _balances(engine, member)
    left = date(2025, 11, 3)
    ledger = ledger_for(engine)
    with ledger.unit_of_work() as conn:  # the source sends; no accept message is written
        transfer_id = request_transfer(ledger, conn, member, PENSION, "310000", left)
    assert _balances(engine, member)["transit:pension"] < 0  # credited: money in transit

    def sweep(days_later: int) -> tuple[int, list[str]]:
        today = left + timedelta(days=days_later)
        run, written = schedule.start(
            engine, lambda c: schedule.transfer_timeouts_run(c, today, 45), broker
        )
        join(broker)
        return written, [m["transfer_id"] for m in run.messages]

    assert sweep(44) == (0, [])  # still inside the 45 days
    assert sweep(46) == (1, [transfer_id])
    with engine.connect() as conn:
        found = find_transfer(conn, transfer_id)
        assert in_transit(conn) == []
    assert found is not None and found.status is TransferStatus.RETURNED
    assert found.returned_because is not None
    assert "not accepted within 45 days" in found.returned_because
    assert _balances(engine, member) == before
    assert sweep(47) == (0, [])  # nothing left in transit: nothing sent again
    assert kinds(engine)["transfer-return"] == 1


def test_the_timeout_sweep_leaves_accepted_transfers_alone(engine, broker, worker):
    [member] = enrol(engine, 1)
    _pay_three_months(engine, broker, member)
    transfer_id = keys.transfer_id(member, PENSION, "310000", date(2025, 11, 3))
    schedule.start(engine, lambda c: schedule.transfer_run(transfer_id, date(2025, 11, 3)), broker)
    join(broker)
    with engine.connect() as conn:
        run = schedule.transfer_timeouts_run(conn, date(2026, 6, 1), 45)
    assert run.messages == ()
