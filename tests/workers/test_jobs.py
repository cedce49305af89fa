"""The jobs through the workers: bank deduction, closing the year, affiliate fees,
interest and a transfer, on the stub broker and on Redis, SQLite and PostgreSQL.

Expected results are computed without the workers (the simulated bank's answer is a pure
function of the seed and the reference).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from ledger.config import Settings
from ledger.operations.bank import BankOutcome, SimulatedBank
from ledger.operations.transfers import TransferStatus, find_transfer, transfer_id_for
from ledger.period import Month
from ledger.schemes import Scheme
from ledger.store.tables import entries
from workers import runtime, schedule
from workers.outbox import progress

from .conftest import enrol, join

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
        if bank.outcome_for(f"bank:{m}:pension:2025-07:2025-12") is BankOutcome.OK
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
    transfer_id = transfer_id_for(member, PENSION, "310000", date(2025, 11, 3))
    schedule.start(engine, lambda c: schedule.transfer_run(transfer_id, date(2025, 11, 3)), broker)
    join(broker)  # the request's worker relays the accept step before acknowledging
    with engine.connect() as conn:
        found = find_transfer(conn, transfer_id)
    assert found is not None and found.status is TransferStatus.IN
    state = progress(engine, f"transfer:{transfer_id}")
    assert (state["done"], state["failed"]) == (2, 0)
