"""Members paying through an HR company, on SQLite and PostgreSQL alike (seed 004, §9).

Given a member enrolled through a company, when the month's fees are charged, then the
company pays the contribution and its fee lands in its fee revenue only, once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from ledger.domain.clock import FixedClock
from ledger.domain.errors import NotAffiliated
from ledger.domain.identity import check_character
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.fees import agency_members, charge_month
from ledger.operations.payments import contribute
from ledger.operations.services import Ledger
from ledger.store.queries import affiliated_arrangements, trial_balance
from ledger.store.tables import accounts, entries, postings
from tests.rows import row_counts

MEMBER = "11010519491231002X"
OTHER = "11010519650115011" + check_character("11010519650115011")
BEIJING = "110000"
JULY = Month(2025, 7)


def counts(engine) -> tuple[int, ...]:
    return row_counts(engine, entries, postings)


@pytest.fixture
def ledger(engine) -> Ledger:
    ledger = Ledger(engine, FixedClock(datetime(2025, 12, 1, 9, tzinfo=UTC)))
    with ledger.unit_of_work() as conn:
        for member in (MEMBER, OTHER):
            ledger.add_member(conn, member, BEIJING)
        ledger.enroll(
            conn,
            MEMBER,
            Scheme.PENSION,
            BEIJING,
            BaseChoice.of(percent="60"),
            JULY,
            method="agency",
            agency="acme-hr",
        )
        ledger.enroll(
            conn,
            MEMBER,
            Scheme.MEDICAL,
            BEIJING,
            BaseChoice.of(percent="60"),
            JULY,
            method="agency",
            agency="acme-hr",
        )
        ledger.enroll(conn, OTHER, Scheme.PENSION, BEIJING, BaseChoice.of(percent="60"), JULY)
    return ledger


def charge(ledger: Ledger, scheme: Scheme = Scheme.PENSION, member: str = MEMBER):
    with ledger.unit_of_work() as conn:
        return charge_month(ledger, conn, member, scheme, JULY, date(2025, 12, 1))


def legs(engine, entry_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(accounts.c.name, postings.c.amount_fen)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(postings.c.entry_id == entry_id)
        )
        return {r.name: r.amount_fen for r in rows}


def test_the_company_pays_the_month_and_its_fee_reaches_its_fee_revenue_only(ledger, engine):
    """200 CNY a month on top of the contributions (Hangzhou, 2024: DOMAIN.md §9)."""
    contribution, fee = charge(ledger)
    assert contribution.draft.kind is EntryKind.CONTRIBUTION
    assert legs(engine, contribution.id)["agency:acme-hr"] == 143240
    assert fee.draft.kind is EntryKind.FEE
    assert fee.draft.idempotency_key == f"fee:2025-07:{MEMBER}"
    assert legs(engine, fee.id) == {"agency:acme-hr": 20000, "agency-fees:acme-hr": -20000}


def test_fees_never_touch_a_fund_a_personal_account_or_arrears(ledger, engine):
    charge(ledger)
    charge(ledger, Scheme.MEDICAL)
    with engine.connect() as conn:
        fee_accounts = set(
            conn.execute(
                select(accounts.c.name)
                .join(postings, postings.c.account_id == accounts.c.id)
                .join(entries, entries.c.id == postings.c.entry_id)
                .where(entries.c.kind == EntryKind.FEE.value)
            ).scalars()
        )
        totals = dict(trial_balance(conn, date(2025, 12, 31)))
    assert fee_accounts == {"agency:acme-hr", "agency-fees:acme-hr"}
    assert totals["agency-fees:acme-hr"] == -20000  # one fee a month, whatever the schemes


def test_charging_a_month_twice_writes_nothing_the_second_time(ledger, engine):
    charge(ledger)
    before = counts(engine)
    assert charge(ledger) == []
    assert counts(engine) == before


def test_a_month_already_paid_is_not_paid_again_but_the_fee_is_charged(ledger, engine):
    with ledger.unit_of_work() as conn:
        contribute(ledger, conn, MEMBER, Scheme.PENSION, JULY, None, date(2025, 11, 1))
    [fee] = charge(ledger)
    assert fee.draft.kind is EntryKind.FEE


def test_a_member_paying_directly_is_not_charged_a_fee(ledger, engine):
    before = counts(engine)
    with pytest.raises(NotAffiliated) as caught:
        charge(ledger, member=OTHER)
    assert "paying by monthly" in caught.value.rule
    assert counts(engine) == before


def test_agency_members_and_the_auditors_listing_show_every_arrangement(ledger, engine):
    with engine.connect() as conn:
        assert agency_members(conn, JULY) == [(MEMBER, Scheme.MEDICAL), (MEMBER, Scheme.PENSION)]
        assert agency_members(conn, Month(2025, 6)) == []
        listed = affiliated_arrangements(conn)
    assert {(a.member_id, a.scheme, a.agency) for a in listed} == {
        (MEMBER, "pension", "acme-hr"),
        (MEMBER, "medical", "acme-hr"),
    }


def test_a_month_paid_meanwhile_rolls_the_charge_back_and_the_retry_finds_it_done(
    ledger, engine, monkeypatch
):
    """Another worker pays July between this charge's reads and its append: the append
    raises ``WriteRaced`` (retried, not refused) and writes nothing; done again on fresh
    facts, the month is already paid and only the fee is posted."""
    from ledger.domain.errors import Transient, WriteRaced
    from ledger.operations import fees

    loaded = fees.load

    def load_then_race(conn, items, month):
        found = loaded(conn, items, month)
        contribute(ledger, conn, MEMBER, Scheme.PENSION, JULY, JULY, date(2025, 11, 30))
        return found

    before = counts(engine)
    monkeypatch.setattr(fees, "load", load_then_race)
    with pytest.raises(WriteRaced) as raced, ledger.unit_of_work() as conn:
        fees.charge(ledger, conn, [(MEMBER, Scheme.PENSION)], JULY, date(2025, 12, 1))
    assert isinstance(raced.value, Transient)
    assert counts(engine) == before
    monkeypatch.setattr(fees, "load", loaded)
    with ledger.unit_of_work() as conn:
        contribute(ledger, conn, MEMBER, Scheme.PENSION, JULY, JULY, date(2025, 11, 30))
    [fee] = charge(ledger)
    assert fee.draft.kind is EntryKind.FEE
