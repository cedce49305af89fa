"""Posting contributions through the services, on SQLite and PostgreSQL alike.

Given a registered and enrolled member, when months are paid, then each month is one
balanced entry; replays write nothing; every refusal leaves the ledger as it was.
"""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from ledger.domain.clock import FixedClock
from ledger.domain.errors import (
    BackPaymentWindowClosed,
    BadInput,
    BaseOutsideRange,
    InvalidCitizenId,
    MonthAlreadyPaid,
    NotEnrolled,
    UnknownMember,
)
from ledger.domain.identity import check_character
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.payments import contribute
from ledger.operations.services import Ledger
from ledger.store.tables import accounts, enrolments, entries, members, postings
from tests.rows import row_counts

MEMBER = "11010519491231002X"
OTHER = "11010519650115011" + check_character("11010519650115011")
BEIJING = "110000"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def counts(engine) -> tuple[int, ...]:
    return row_counts(engine, members, enrolments, accounts, entries, postings)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(2026, 3, 1, 9))


@pytest.fixture
def ledger(engine, clock) -> Ledger:
    ledger = Ledger(engine, clock)
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, BEIJING)
        ledger.enroll(
            conn, MEMBER, Scheme.PENSION, BEIJING, BaseChoice.of(percent="60"), Month(2025, 7)
        )
    return ledger


def legs(engine, entry_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(accounts.c.name, postings.c.amount_fen)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(postings.c.entry_id == entry_id)
        )
        return {r.name: r.amount_fen for r in rows}


def test_a_month_paid_is_one_balanced_entry_crediting_personal_and_pooling(ledger, engine):
    """Beijing 2025 floor 7,162: 1,432.40 collected, 572.96 personal, 859.44 pooling.

    Source: DOMAIN.md §2 and §8 (京人社发〔2025〕11号)."""
    with ledger.unit_of_work() as conn:
        [entry] = contribute(
            ledger, conn, MEMBER, Scheme.PENSION, Month(2025, 7), None, date(2025, 12, 10)
        )
    assert legs(engine, entry.id) == {
        "collection:pension:110000": 143240,
        f"personal:pension:{MEMBER}": -57296,
        "pooling:pension:110000": -85944,
    }
    with engine.connect() as conn:
        row = conn.execute(select(entries).where(entries.c.id == entry.id)).one()
    assert (row.kind, row.period, row.base_fen) == ("contribution", "2025-07", 716200)
    assert row.effective_date == date(2025, 12, 10)


def test_a_range_posts_one_entry_per_month(ledger):
    with ledger.unit_of_work() as conn:
        recorded = contribute(
            ledger,
            conn,
            MEMBER,
            Scheme.PENSION,
            Month(2025, 7),
            Month(2025, 12),
            date(2025, 12, 20),
        )
    assert [r.draft.period for r in recorded] == [
        str(m) for m in Month(2025, 7).until(Month(2025, 12))
    ]
    assert all(r.created for r in recorded)


def test_a_replayed_command_writes_nothing_and_returns_the_originals(ledger, engine):
    args = (MEMBER, Scheme.PENSION, Month(2025, 7), Month(2025, 9), date(2025, 12, 1))
    with ledger.unit_of_work() as conn:
        first = contribute(ledger, conn, *args)
    before = counts(engine)
    with ledger.unit_of_work() as conn:
        again = contribute(ledger, conn, *args)
    assert counts(engine) == before
    assert [r.id for r in again] == [r.id for r in first]
    assert not any(r.created for r in again)


def test_a_month_already_paid_differently_is_refused_and_nothing_written(ledger, engine):
    with ledger.unit_of_work() as conn:
        contribute(ledger, conn, MEMBER, Scheme.PENSION, Month(2025, 8), None, date(2025, 12, 1))
    before = counts(engine)
    with pytest.raises(MonthAlreadyPaid) as caught, ledger.unit_of_work() as conn:
        contribute(
            ledger, conn, MEMBER, Scheme.PENSION, Month(2025, 7), Month(2025, 9), date(2025, 12, 2)
        )
    assert "2025-08 is already paid" in caught.value.rule
    assert counts(engine) == before


def test_a_month_before_enrolment_is_refused_and_the_whole_range_not_written(ledger, engine):
    before = counts(engine)
    with pytest.raises(NotEnrolled) as caught, ledger.unit_of_work() as conn:
        contribute(
            ledger, conn, MEMBER, Scheme.PENSION, Month(2025, 6), Month(2025, 8), date(2025, 12, 1)
        )
    assert "2025-06" in caught.value.rule
    assert counts(engine) == before


def test_a_missed_month_cannot_be_paid_after_its_calendar_year(ledger, engine):
    """Missed months are payable within the calendar year, not after (DOMAIN.md §2)."""
    before = counts(engine)
    with pytest.raises(BackPaymentWindowClosed) as caught, ledger.unit_of_work() as conn:
        contribute(ledger, conn, MEMBER, Scheme.PENSION, Month(2025, 7), None, date(2026, 1, 5))
    assert caught.value.field == "paid_on" and "gap" in caught.value.rule
    assert counts(engine) == before


def test_a_payment_dated_in_the_future_is_refused(ledger):
    with pytest.raises(BadInput) as caught, ledger.unit_of_work() as conn:
        contribute(ledger, conn, MEMBER, Scheme.PENSION, Month(2026, 3), None, date(2026, 3, 2))
    assert caught.value.field == "paid_on"


def test_bad_ids_and_unknown_members_are_refused_naming_the_field(ledger, engine):
    before = counts(engine)
    with pytest.raises(InvalidCitizenId), ledger.unit_of_work() as conn:
        ledger.add_member(conn, "110105194912310021", BEIJING)
    with pytest.raises(UnknownMember), ledger.unit_of_work() as conn:
        contribute(ledger, conn, OTHER, Scheme.PENSION, Month(2025, 7), None, date(2025, 12, 1))
    assert counts(engine) == before


def test_an_enrolment_outside_the_base_range_is_refused_naming_floor_and_ceiling(ledger, engine):
    before = counts(engine)
    with pytest.raises(BaseOutsideRange) as caught, ledger.unit_of_work() as conn:
        ledger.enroll(
            conn, MEMBER, Scheme.PENSION, BEIJING, BaseChoice.of(amount="40000"), Month(2025, 7)
        )
    assert "7162.00 (floor)" in caught.value.rule and "35811.00 (ceiling)" in caught.value.rule
    assert counts(engine) == before


def test_a_correction_is_a_new_entry_pointing_at_the_original(ledger, engine):
    with ledger.unit_of_work() as conn:
        [entry] = contribute(
            ledger, conn, MEMBER, Scheme.PENSION, Month(2025, 7), None, date(2025, 12, 1)
        )
        fix = ledger.correct(conn, entry.id, "paid into the wrong scheme")
    assert fix.draft.kind is EntryKind.CORRECTION and fix.draft.corrects == entry.id
    assert legs(engine, fix.id) == {k: -v for k, v in legs(engine, entry.id).items()}
    with pytest.raises(BadInput), ledger.unit_of_work() as conn:
        ledger.correct(conn, entry.id, "twice")


def test_an_agency_member_is_paid_for_by_the_hr_company(engine, clock):
    ledger = Ledger(engine, clock)
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, BEIJING)
        ledger.enroll(
            conn,
            MEMBER,
            Scheme.PENSION,
            BEIJING,
            BaseChoice.of(percent="60"),
            Month(2025, 7),
            method="agency",
            agency="acme-hr",
        )
        [entry] = contribute(
            ledger, conn, MEMBER, Scheme.PENSION, Month(2025, 7), None, date(2025, 12, 1)
        )
    assert legs(engine, entry.id)["agency:acme-hr"] == 143240


def test_bulk_and_orm_paths_store_recorded_times_in_one_format(ledger, engine):
    """SQLite compares stored times as text: the driver path must write what SQLAlchemy does."""
    from sqlalchemy import text

    with ledger.unit_of_work() as conn:
        contribute(ledger, conn, MEMBER, Scheme.PENSION, Month(2025, 7), None, date(2025, 12, 1))
    with engine.connect() as conn:
        entry_time = conn.execute(text("SELECT CAST(recorded_at AS TEXT) FROM entries")).scalar()
        account_time = conn.execute(
            text("SELECT CAST(recorded_at AS TEXT) FROM accounts ORDER BY id LIMIT 1")
        ).scalar()
        effective = conn.execute(text("SELECT CAST(effective_date AS TEXT) FROM postings")).scalar()
    assert len(entry_time) == len(account_time)
    assert entry_time[:19] == "2026-03-01 09:00:00"
    assert effective == "2025-12-01"
