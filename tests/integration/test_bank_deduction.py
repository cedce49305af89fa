"""Bank withholding runs, on SQLite and PostgreSQL alike (DOMAIN.md §9, seed 004).

Given members with a three-party withholding agreement, when the yearly deduction runs,
then the months due are charged in one bank call and posted once, failures roll over,
and months left unpaid when the year closes become gaps that can no longer be paid.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import select

from ledger.config import Settings
from ledger.domain.clock import FixedClock
from ledger.domain.errors import (
    BackPaymentWindowClosed,
    BankUnavailable,
    SettlementShort,
    WriteRaced,
)
from ledger.domain.identity import check_character
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice, assess
from ledger.domain.schemes import Scheme
from ledger.operations import withholding
from ledger.operations.bank import BankOutcome, BankResult, SimulatedBank, reference_for
from ledger.operations.payments import contribute
from ledger.operations.rosters import bank_members
from ledger.operations.services import Ledger
from ledger.operations.withholding import deduct_member_year
from ledger.operations.yearplan import close_year
from ledger.store.queries import balance
from ledger.store.tables import entries, postings
from tests.rows import row_counts

MEMBER = "11010519491231002X"
BEIJING = "110000"
PENSION = Scheme.PENSION


def member_id(n: int) -> str:
    body = f"110105198001{n:02d}{n:03d}"
    return body + check_character(body)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def counts(engine) -> tuple[int, ...]:
    return row_counts(engine, entries, postings)


class ScriptedBank:
    """A gateway answering from a script, remembering settled references like a bank."""

    def __init__(self, *script: BankOutcome | type[Exception]) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, str, int]] = []
        self.settled: dict[str, BankResult] = {}
        self.asked: list[str] = []

    def deduct(self, reference: str, member_id: str, amount_fen: int) -> BankResult:
        self.calls.append((reference, member_id, amount_fen))
        if reference in self.settled:
            return self.settled[reference]
        step = self.script.pop(0) if self.script else BankOutcome.OK
        if isinstance(step, type):
            raise step(f"scripted failure on {reference}")
        self.settled[reference] = BankResult(step, f"REF-{len(self.settled) + 1}", amount_fen)
        return self.settled[reference]

    def first_result(self, reference: str) -> BankResult | None:
        self.asked.append(reference)
        return self.settled.get(reference)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(2025, 6, 15, 9))


@pytest.fixture
def ledger(engine, clock) -> Ledger:
    ledger = Ledger(engine, clock)
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, BEIJING)
        ledger.enroll(
            conn,
            MEMBER,
            PENSION,
            BEIJING,
            BaseChoice.of(percent="60"),
            Month(2025, 1),
            method="bank",
            signed_on=date(2025, 3, 10),
        )
    return ledger


def deduct(ledger: Ledger, bank, today: date, member: str = MEMBER):
    with ledger.unit_of_work() as conn:
        return deduct_member_year(ledger, conn, member, PENSION, today.year, bank, today)


def owed(ledger: Ledger, months: list[Month]) -> int:
    """What the months cost as the policy was known when the clock reads (bases come late)."""
    choice, known = BaseChoice.of(percent="60"), ledger.clock.now()
    return sum(
        assess(ledger.policy, BEIJING, PENSION, m, choice, known_at=known).total_fen for m in months
    )


def paid_months(engine, member: str = MEMBER) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(entries.c.period)
                .where(entries.c.kind == "contribution", entries.c.member_id == member)
                .order_by(entries.c.period)
            ).scalars()
        )


def test_an_agreement_signed_in_march_is_first_deducted_for_april(ledger, engine):
    """An agreement signed this month takes effect next month (Nanjing tax bureau)."""
    bank = ScriptedBank()
    result = deduct(ledger, bank, date(2025, 6, 15))
    assert result.outcome is BankOutcome.OK
    assert result.months == ("2025-04", "2025-05", "2025-06")
    months = [Month(2025, 4), Month(2025, 5), Month(2025, 6)]
    assert bank.calls == [
        ("bank:" + MEMBER + ":pension:2025:2025-06-15", MEMBER, owed(ledger, months))
    ]
    assert paid_months(engine) == ["2025-04", "2025-05", "2025-06"]
    assert all(r.draft.effective_date == date(2025, 6, 15) for r in result.posted)


def test_running_the_deduction_twice_writes_nothing_and_calls_the_bank_once(ledger, engine):
    bank = ScriptedBank()
    deduct(ledger, bank, date(2025, 6, 15))
    before = counts(engine)
    again = deduct(ledger, bank, date(2025, 6, 15))
    assert counts(engine) == before
    assert again.outcome is None and again.posted == ()
    assert len(bank.calls) == 1


def test_insufficient_funds_posts_nothing_and_the_next_run_posts_the_rolled_over_months_once(
    ledger, engine, clock
):
    """A shortfall fails the whole batch, which rolls into the next one (Hengyang)."""
    bank = ScriptedBank(BankOutcome.INSUFFICIENT_FUNDS)
    before = counts(engine)
    failed = deduct(ledger, bank, date(2025, 6, 15))
    assert failed.outcome is BankOutcome.INSUFFICIENT_FUNDS
    assert counts(engine) == before

    clock.advance_to(at(2025, 7, 15, 9))
    rolled = deduct(ledger, bank, date(2025, 7, 15))
    assert rolled.outcome is BankOutcome.OK
    assert rolled.months == ("2025-04", "2025-05", "2025-06", "2025-07")
    assert bank.calls[1][2] == owed(ledger, [Month(2025, m) for m in range(4, 8)])
    after = counts(engine)
    deduct(ledger, bank, date(2025, 7, 15))
    assert counts(engine) == after
    assert paid_months(engine) == ["2025-04", "2025-05", "2025-06", "2025-07"]


def test_a_closed_account_posts_nothing(ledger, engine):
    before = counts(engine)
    result = deduct(ledger, ScriptedBank(BankOutcome.ACCOUNT_CLOSED), date(2025, 6, 15))
    assert result.outcome is BankOutcome.ACCOUNT_CLOSED and result.posted == ()
    assert counts(engine) == before


def test_a_timeout_writes_nothing_and_the_retry_reuses_the_reference(ledger, engine):
    bank = ScriptedBank(BankUnavailable, BankOutcome.OK)
    before = counts(engine)
    with pytest.raises(BankUnavailable):
        deduct(ledger, bank, date(2025, 6, 15))
    assert counts(engine) == before
    retried = deduct(ledger, bank, date(2025, 6, 15))
    assert retried.outcome is BankOutcome.OK
    assert bank.calls[0][0] == bank.calls[1][0] == retried.reference


def test_months_unpaid_when_the_year_closes_become_gaps_once(ledger, engine, clock):
    """Missed months are payable within the calendar year only (DOMAIN.md §2)."""
    deduct(ledger, ScriptedBank(), date(2025, 6, 15))
    clock.advance_to(at(2026, 1, 10, 9))
    with ledger.unit_of_work() as conn:
        gaps = close_year(ledger, conn, PENSION, 2025, date(2026, 1, 10))
    assert [g.draft.period for g in gaps] == [str(Month(2025, m)) for m in range(7, 13)]
    assert all(g.draft.kind is EntryKind.ARREARS for g in gaps)
    assert gaps[0].draft.idempotency_key == f"gap:2025-07:{MEMBER}:pension"
    assert gaps[0].draft.effective_date == date(2025, 12, 31)
    assert "unpaid when the back-payment window closed" in gaps[0].draft.reason
    with ledger.engine.connect() as conn:
        owed_fen = balance(conn, f"arrears:pension:{MEMBER}", date(2025, 12, 31))
    assert owed_fen == owed(ledger, [Month(2025, m) for m in range(7, 13)])

    before = counts(engine)
    bank = ScriptedBank()
    with ledger.unit_of_work() as conn:
        assert close_year(ledger, conn, PENSION, 2025, date(2026, 1, 10)) == []
    late = deduct_member_year_for(ledger, bank, 2025, date(2026, 1, 10))
    assert late.outcome is None and bank.calls == []
    assert counts(engine) == before


def deduct_member_year_for(ledger: Ledger, bank, year: int, today: date):
    with ledger.unit_of_work() as conn:
        return deduct_member_year(ledger, conn, MEMBER, PENSION, year, bank, today)


def test_a_later_payment_for_a_gap_month_is_refused_naming_the_reason(ledger, engine, clock):
    clock.advance_to(at(2026, 1, 10, 9))
    with ledger.unit_of_work() as conn:
        close_year(ledger, conn, PENSION, 2025, date(2026, 1, 10))
    before = counts(engine)
    with pytest.raises(BackPaymentWindowClosed) as caught, ledger.unit_of_work() as conn:
        contribute(ledger, conn, MEMBER, PENSION, Month(2025, 5), None, date(2026, 1, 10))
    assert "gap" in caught.value.rule and "closed at the end of 2025" in caught.value.rule
    assert counts(engine) == before


def test_a_year_is_closed_only_once_it_has_ended(ledger):
    from ledger.domain.errors import BadInput

    with pytest.raises(BadInput) as caught, ledger.unit_of_work() as conn:
        close_year(ledger, conn, PENSION, 2025, date(2025, 6, 15))
    assert caught.value.field == "year"


def test_the_same_seed_gives_the_same_outcomes_and_another_seed_others():
    references = [f"bank:{member_id(n)}:pension:2025-01:2025-06" for n in range(1, 60)]

    def outcomes(seed: int) -> list[BankOutcome]:
        bank = SimulatedBank(seed, Decimal("0.5"), timeout_rate=Decimal(0))
        return [bank.deduct(r, "m", 100).outcome for r in references]

    assert outcomes(42) == outcomes(42)
    assert outcomes(42) != outcomes(43)
    assert set(outcomes(42)) == set(BankOutcome)


def test_the_same_seed_gives_the_same_ledger(ledger, engine):
    members = [member_id(n) for n in range(1, 9)]
    with ledger.unit_of_work() as conn:
        for member in members:
            ledger.add_member(conn, member, BEIJING)
            ledger.enroll(
                conn,
                member,
                PENSION,
                BEIJING,
                BaseChoice.of(percent="60"),
                Month(2025, 1),
                method="bank",
            )
    bank = SimulatedBank(7, Decimal("0.5"), timeout_rate=Decimal(0))
    results = [deduct(ledger, bank, date(2025, 6, 15), m) for m in members]
    replay = SimulatedBank(7, Decimal("0.5"), timeout_rate=Decimal(0))
    for member, result in zip(members, results, strict=True):
        assert result.reference is not None
        assert result.outcome is replay.outcome_for(result.reference)
        paid = paid_months(engine, member)
        assert paid == (list(result.months) if result.outcome is BankOutcome.OK else [])


def test_a_timed_out_deduction_is_charged_once_and_answered_on_retry():
    bank = SimulatedBank(3, Decimal(1), timeout_rate=Decimal(1))
    for _ in range(2):
        with pytest.raises(BankUnavailable):
            bank.deduct("bank:x:pension:2025-01:2025-02", "x", 100)
    assert list(bank.settled) == ["bank:x:pension:2025-01:2025-02"]
    assert bank.attempts["bank:x:pension:2025-01:2025-02"] == 2


def test_the_default_failure_rate_comes_from_the_settings():
    assert SimulatedBank(1).failure_rate == Fraction("0.03")
    settings = Settings.from_env({"FLEXLEDGER_BANK_FAILURE_RATE": "0.1"})
    assert SimulatedBank.from_settings(settings, seed=1).failure_rate == Fraction("0.1")


def test_bank_members_lists_only_members_paying_by_bank_that_year(ledger):
    other = member_id(1)
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, other, BEIJING)
        ledger.enroll(conn, other, PENSION, BEIJING, BaseChoice.of(percent="60"), Month(2025, 1))
        assert bank_members(conn, PENSION, 2025) == [MEMBER]
        assert bank_members(conn, PENSION, 2024) == []


# ------------------------------------------------- a commit lost after the bank charged


class LostCommit(Exception):
    """Stands for a worker dying after the bank charged, before its transaction committed."""


TODAY = date(2025, 6, 15)
APRIL_TO_JUNE = [Month(2025, 4), Month(2025, 5), Month(2025, 6)]


def charge_then_lose_the_commit(ledger: Ledger, bank: ScriptedBank, engine) -> None:
    before = counts(engine)
    with pytest.raises(LostCommit), ledger.unit_of_work() as conn:
        result = deduct_member_year(ledger, conn, MEMBER, PENSION, 2025, bank, TODAY)
        assert result.outcome is BankOutcome.OK
        raise LostCommit
    assert counts(engine) == before
    assert len(bank.calls) == 1


def pay_otherwise(ledger: Ledger, *months: Month) -> None:
    with ledger.unit_of_work() as conn:
        for month in months:
            contribute(ledger, conn, MEMBER, PENSION, month, month, TODAY)


def entries_of_kind(engine, kind: str) -> list:
    with engine.connect() as conn:
        return conn.execute(select(entries).where(entries.c.kind == kind)).all()


def owed_back(engine) -> int:
    """What the refunds account holds for the member (a liability: credits are negative)."""
    with engine.connect() as conn:
        return -balance(conn, f"refunds:pension:{MEMBER}", date(2025, 12, 31))


def test_a_retry_after_a_lost_commit_does_not_charge_again_when_a_month_was_paid_meanwhile(
    ledger, engine
):
    """The first attempt charged April to June and its commit was lost; the member then
    paid April at the counter. The retry asks the bank under the same reference (the bank
    answers with its first result: no second charge), posts May and June, and records the
    April money the bank took as owed back to the member."""
    bank = ScriptedBank()
    charge_then_lose_the_commit(ledger, bank, engine)
    pay_otherwise(ledger, Month(2025, 4))

    retried = deduct(ledger, bank, TODAY)
    assert retried.outcome is BankOutcome.OK
    assert [c[0] for c in bank.calls] == [reference_for(MEMBER, PENSION, 2025, TODAY)] * 2
    assert bank.calls[0][2] == owed(ledger, APRIL_TO_JUNE)  # what the bank took, once
    assert retried.amount_fen == owed(ledger, APRIL_TO_JUNE[1:])
    assert retried.settled_fen == owed(ledger, APRIL_TO_JUNE)
    assert paid_months(engine) == ["2025-04", "2025-05", "2025-06"]
    [overpayment] = entries_of_kind(engine, "overpayment")
    assert overpayment.member_id == MEMBER and overpayment.effective_date == TODAY
    assert owed_back(engine) == owed(ledger, [Month(2025, 4)])


def test_a_retry_after_a_lost_commit_owes_everything_back_when_every_month_was_paid_meanwhile(
    ledger, engine
):
    bank = ScriptedBank()
    charge_then_lose_the_commit(ledger, bank, engine)
    pay_otherwise(ledger, *APRIL_TO_JUNE)

    retried = deduct(ledger, bank, TODAY)
    assert len(bank.calls) == 1  # nothing due: the bank is only asked what it took
    assert bank.asked == [reference_for(MEMBER, PENSION, 2025, TODAY)]
    assert retried.outcome is BankOutcome.OK and retried.months == ()
    assert owed_back(engine) == owed(ledger, APRIL_TO_JUNE)
    again = counts(engine)
    deduct(ledger, bank, TODAY)  # recorded: neither charged nor asked again
    assert counts(engine) == again
    assert len(bank.calls) == 1 and len(bank.asked) == 1


def test_nothing_due_and_nothing_taken_records_nothing(ledger, engine):
    bank = ScriptedBank()
    pay_otherwise(ledger, *APRIL_TO_JUNE)
    before = counts(engine)
    result = deduct(ledger, bank, TODAY)
    assert result.outcome is None
    assert bank.calls == [] and bank.asked == [reference_for(MEMBER, PENSION, 2025, TODAY)]
    assert counts(engine) == before


def test_a_recorded_deduction_is_neither_charged_nor_asked_again_that_day(ledger, engine):
    bank = ScriptedBank()
    deduct(ledger, bank, TODAY)
    before = counts(engine)
    again = deduct(ledger, bank, TODAY)
    assert again.outcome is None and counts(engine) == before
    assert len(bank.calls) == 1 and bank.asked == []
    assert entries_of_kind(engine, "overpayment") == []


def test_a_bank_that_settled_for_less_than_the_months_due_is_refused_and_nothing_is_posted(
    ledger, engine
):
    bank = ScriptedBank()
    reference = reference_for(MEMBER, PENSION, 2025, TODAY)
    bank.settled[reference] = BankResult(BankOutcome.OK, "REF-EARLIER", 100)
    before = counts(engine)
    with pytest.raises(SettlementShort, match=r"settled .* for 100 fen"):
        deduct(ledger, bank, TODAY)
    assert counts(engine) == before
    assert paid_months(engine) == []


def test_a_batch_retried_after_a_lost_commit_records_what_the_bank_took_once(ledger, engine):
    bank = ScriptedBank()
    charge_then_lose_the_commit(ledger, bank, engine)
    pay_otherwise(ledger, Month(2025, 4))
    with ledger.unit_of_work() as conn:
        [result] = withholding.deduct(ledger, conn, [MEMBER], PENSION, 2025, bank, TODAY)
    assert result.refused is None and result.outcome is BankOutcome.OK
    assert result.created == 3  # May, June, the overpayment
    assert len(bank.calls) == 2 and bank.calls[0][0] == bank.calls[1][0]
    assert paid_months(engine) == ["2025-04", "2025-05", "2025-06"]
    assert owed_back(engine) == owed(ledger, [Month(2025, 4)])
    with ledger.unit_of_work() as conn:
        [again] = withholding.deduct(ledger, conn, [MEMBER], PENSION, 2025, bank, TODAY)
    assert again.outcome is None and again.created == 0 and again.refused is None
    assert len(bank.calls) == 2


def test_a_batch_refuses_a_short_settlement_for_that_member_alone(ledger, engine):
    other = member_id(1)
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, other, BEIJING)
        ledger.enroll(
            conn,
            other,
            PENSION,
            BEIJING,
            BaseChoice.of(percent="60"),
            Month(2025, 1),
            method="bank",
        )
    bank = ScriptedBank()
    bank.settled[reference_for(MEMBER, PENSION, 2025, TODAY)] = BankResult(
        BankOutcome.OK, "REF-EARLIER", 100
    )
    with ledger.unit_of_work() as conn:
        short, paid = withholding.deduct(ledger, conn, [MEMBER, other], PENSION, 2025, bank, TODAY)
    assert isinstance(short.refused, SettlementShort) and short.created == 0
    assert paid_months(engine) == []
    assert paid.refused is None and paid.outcome is BankOutcome.OK
    assert paid_months(engine, other) == [str(Month(2025, m)) for m in range(1, 7)]


def test_the_simulated_bank_answers_a_settled_reference_with_its_first_amount():
    bank = SimulatedBank(3, Decimal(0), timeout_rate=Decimal(0))
    assert bank.first_result("bank:x:pension:2025:2025-06-15") is None
    first = bank.deduct("bank:x:pension:2025:2025-06-15", "x", 300)
    again = bank.deduct("bank:x:pension:2025:2025-06-15", "x", 200)
    assert first == again == bank.first_result("bank:x:pension:2025:2025-06-15")
    assert first.amount_fen == 300


def test_a_settlement_another_run_recorded_meanwhile_is_a_race_that_writes_nothing(
    ledger, engine, monkeypatch
):
    """Two runs the same day: the second checked its references before the first
    committed, so it reaches the settlement rows after them. Its append is refused as a
    race (``WriteRaced``: the message is rolled back and done again), writing nothing,
    and done again it finds the reference recorded and asks the bank no more."""
    bank = ScriptedBank()
    deduct(ledger, bank, TODAY)
    before = counts(engine)
    with monkeypatch.context() as patch:
        patch.setattr(withholding, "recorded_settlements", lambda _conn, _refs: set())
        patch.setattr(withholding, "load", _as_if_nothing_was_paid(withholding.load))
        with pytest.raises(WriteRaced), ledger.unit_of_work() as conn:
            withholding.deduct(ledger, conn, [MEMBER], PENSION, 2025, bank, TODAY)
    assert counts(engine) == before
    calls = len(bank.calls)
    with ledger.unit_of_work() as conn:
        [again] = withholding.deduct(ledger, conn, [MEMBER], PENSION, 2025, bank, TODAY)
    assert again.outcome is None and again.created == 0 and len(bank.calls) == calls
    assert len(bank.settled) == 1  # asked again under the same reference: charged once


def _as_if_nothing_was_paid(load):
    """``load`` as a run that read its facts before the first run committed saw them."""
    from dataclasses import replace

    def stale(*args, **kwargs):
        return replace(load(*args, **kwargs), paid={})

    return stale
