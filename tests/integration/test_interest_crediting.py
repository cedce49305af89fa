"""Interest crediting, on SQLite and PostgreSQL alike (记账利率, DOMAIN.md §4).

Given a member's monthly pension contributions, when a year is credited, then the
personal account earns exactly what the pure rule computes from its own deposits, years
compound, a rerun writes nothing, and an official rate replacing a provisional one is
posted as a difference that points at the first credit.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.domain.clock import FixedClock
from ledger.domain.errors import BadInput
from ledger.domain.identity import check_character
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.policy import load_policy
from ledger.domain.policy.loader import DATA_DIR
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.rules.interest import Deposit, credit_years
from ledger.domain.rules.interest import credit_year as credit_rule
from ledger.domain.schemes import Scheme
from ledger.operations.interest import credit_year, personal_accounts
from ledger.operations.payments import contribute
from ledger.operations.services import Ledger
from ledger.store.queries import balance
from ledger.store.tables import accounts, entries, postings
from tests.rows import row_counts

MEMBER = "11010519491231002X"
OTHER = "11010519650115011" + check_character("11010519650115011")
BEIJING, SHANGHAI = "110000", "310000"
PENSION = Scheme.PENSION
ACCOUNT = f"personal:pension:{MEMBER}"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def counts(engine) -> tuple[int, ...]:
    return row_counts(engine, entries, postings)


def make_ledger(engine, clock: FixedClock, policy=None) -> Ledger:
    """Paid in Beijing at 60%, each month of 2024 and 2025 on the 15th of that month."""
    ledger = Ledger(engine, clock, policy)
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, BEIJING)
        ledger.enroll(conn, MEMBER, PENSION, BEIJING, BaseChoice.of(percent="60"), Month(2024, 1))
        for month in Month(2024, 1).until(Month(2025, 12)):
            contribute(
                ledger, conn, MEMBER, PENSION, month, None, date(month.year, month.month, 15)
            )
    return ledger


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(2026, 1, 10, 9))


@pytest.fixture
def ledger(engine, clock) -> Ledger:
    return make_ledger(engine, clock)


def own_deposits(engine, year: int) -> list[Deposit]:
    """The member's contributions to the personal account in ``year``, by month paid."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(postings.c.effective_date, postings.c.amount_fen)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .join(entries, entries.c.id == postings.c.entry_id)
            .where(accounts.c.name == ACCOUNT, entries.c.kind == "contribution")
        ).all()
    by_month: dict[Month, int] = {}
    for day, amount in rows:
        if day.year == year:
            by_month[Month.of(day)] = by_month.get(Month.of(day), 0) - amount
    return [Deposit(m, a) for m, a in sorted(by_month.items())]


def credit(ledger: Ledger, year: int, **kwargs):
    with ledger.unit_of_work() as conn:
        return credit_year(ledger, conn, year, PENSION, **kwargs)


def test_a_years_interest_is_the_pure_rules_figure_for_the_members_own_deposits(ledger, engine):
    """2024 at 2.62% (人社厅发〔2025〕), months held × rate / 12 (Zhengzhou rule)."""
    [entry] = credit(ledger, 2024)
    expected = credit_rule(2024, 0, own_deposits(engine, 2024), ledger.policy)
    assert expected.interest_fen > 0
    assert entry.draft.kind is EntryKind.INTEREST
    assert entry.draft.idempotency_key == f"interest:2024:pension:{MEMBER}"
    assert entry.draft.effective_date == date(2024, 12, 31)
    assert {p.account: p.amount_fen for p in entry.draft.postings} == {
        "interest:pension:110000": expected.interest_fen,
        ACCOUNT: -expected.interest_fen,
    }
    assert "2.62%" in entry.draft.reason and "official" in entry.draft.reason
    with engine.connect() as conn:
        assert -balance(conn, ACCOUNT, date(2024, 12, 31)) == expected.closing_fen


def test_years_compound_the_next_opening_includes_the_interest(ledger, engine):
    [first] = credit(ledger, 2024)
    [second] = credit(ledger, 2025)
    deposits = own_deposits(engine, 2024) + own_deposits(engine, 2025)
    y2024, y2025 = credit_years(2024, 2025, 0, deposits, ledger.policy)
    assert -first.draft.postings[1].amount_fen == y2024.interest_fen
    assert -second.draft.postings[1].amount_fen == y2025.interest_fen
    assert y2025.opening_fen == y2024.closing_fen  # 2024's interest opens 2025
    assert "provisional" in second.draft.reason
    with engine.connect() as conn:
        assert -balance(conn, ACCOUNT, date(2025, 12, 31)) == y2025.closing_fen


def test_crediting_a_year_twice_writes_nothing_the_second_time(ledger, engine):
    credit(ledger, 2024)
    before = counts(engine)
    assert credit(ledger, 2024) == []
    assert counts(engine) == before


def test_only_the_accounts_given_are_credited(ledger, engine):
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, OTHER, SHANGHAI)
        ledger.enroll(conn, OTHER, PENSION, SHANGHAI, BaseChoice.of(percent="60"), Month(2024, 1))
        contribute(ledger, conn, OTHER, PENSION, Month(2024, 3), None, date(2024, 3, 15))
        assert personal_accounts(conn, PENSION) == [ACCOUNT, f"personal:pension:{OTHER}"]
    [entry] = credit(ledger, 2024, accounts=[f"personal:pension:{OTHER}"])
    assert entry.draft.member_id == OTHER
    assert entry.draft.region == SHANGHAI  # the region in force in December
    [mine] = credit(ledger, 2024)
    assert mine.draft.member_id == MEMBER


def test_a_year_not_yet_ended_is_refused(ledger):
    with pytest.raises(BadInput) as caught:
        credit(ledger, 2026)
    assert caught.value.field == "year"


@pytest.fixture
def official_2025(tmp_path: Path) -> Path:
    """The shipped policy plus an official 2025 rate published 2026-06-01.

    A test figure (2.00%), not the real one: it only has to differ from the provisional 1.5%.
    """
    for path in DATA_DIR.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    with (tmp_path / "national.toml").open("a", encoding="utf-8") as file:
        file.write(
            "\n[[interest.rate]]\nyear = 2025\neffective = 2025-01-01\npublished = 2026-06-01\n"
            'rate = "0.02"\nsource = "test fixture: an official 2025 rate"\n'
        )
    return tmp_path


def test_an_official_rate_replacing_a_provisional_one_posts_the_difference_once(
    engine, clock, official_2025
):
    policy = load_policy(official_2025)
    ledger = make_ledger(engine, clock, policy)
    credit(ledger, 2024)
    [provisional] = credit(ledger, 2025)
    assert "1.5%" in provisional.draft.reason and "provisional" in provisional.draft.reason

    clock.advance_to(at(2026, 7, 1, 9))
    [difference] = credit(ledger, 2025)
    deposits = own_deposits(engine, 2025)
    opening = -balance_at(engine, date(2024, 12, 31))
    was = credit_rule(2025, opening, deposits, policy, known_at=date(2026, 1, 10))
    now = credit_rule(2025, opening, deposits, policy)
    assert difference.draft.idempotency_key == f"interest:2025:pension:{MEMBER}:rate-2026-06-01"
    assert difference.draft.corrects == provisional.id
    assert -difference.draft.postings[1].amount_fen == now.interest_fen - was.interest_fen > 0
    assert "provisional" in difference.draft.reason and "official" in difference.draft.reason

    before = counts(engine)
    assert credit(ledger, 2025) == []
    assert counts(engine) == before
    assert -balance_at(engine, date(2025, 12, 31)) == now.closing_fen


def balance_at(engine, on: date) -> int:
    with engine.connect() as conn:
        return balance(conn, ACCOUNT, on)
