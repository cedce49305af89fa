"""The residents' pension on SQLite and PostgreSQL: award from 60 with 15 years, monthly pay.

Given a man born 1970-03-10, hukou Beijing, paying the residents' pension at the 500 grade
each year 2016..2030 (15 years; 国发〔2014〕8号: the subsidy is 60 a year from the 500
grade, all into the personal account, DOMAIN.md §7), when he is 60 on 2030-03-10, then he
is awarded the basic minimum plus his account ÷ 139, and each month is paid from his
account and the government's subsidy.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from ledger.domain.clock import FixedClock
from ledger.domain.errors import AlreadyRecorded, NotRetired, ShortOfMinimum
from ledger.domain.identity import check_character
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.payments import contribute
from ledger.operations.pension_payments import awarded_members, pay_month
from ledger.operations.resident_pensions import award_resident_pension
from ledger.operations.services import Ledger
from ledger.store.queries import balance
from ledger.store.tables import pension_awards

MEMBER = "110105197003100" + "07" + check_character("11010519700310007")
RESIDENT = Scheme.RESIDENT_PENSION
ON = date(2030, 3, 10)


@pytest.fixture
def ledger(engine) -> Ledger:
    ledger = Ledger(engine, FixedClock(datetime(2030, 3, 20, 9, tzinfo=UTC)))
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, "110000")
        ledger.enroll(conn, MEMBER, RESIDENT, "110000", BaseChoice.of(grade="500"), Month(2016, 1))
    return ledger


def pay_years(ledger: Ledger, first: int, last: int) -> None:
    with ledger.unit_of_work() as conn:
        for year in range(first, last + 1):
            contribute(ledger, conn, MEMBER, RESIDENT, Month(year, 1), None, date(year, 3, 1))


def bal(ledger: Ledger, account: str) -> int:
    with ledger.engine.connect() as conn:
        return balance(conn, account, date(2099, 12, 31))


def test_the_residents_pension_is_the_basic_minimum_plus_the_account_over_139(ledger):
    """DOMAIN.md §7 (国发〔2014〕8号), by hand: 15 years × (500 + 60 subsidy) = 8,400.00 in
    the account (no interest credited in this ledger); basic 123.00 (national minimum from
    2024, national.toml resident.pension_benefit); 8,400.00 ÷ 139 = 60.4316… → 60.43;
    total 183.43 a month from 2030-04 (the month after the award)."""
    pay_years(ledger, 2016, 2030)
    assert bal(ledger, f"personal:resident-pension:{MEMBER}") == -840_000
    with ledger.unit_of_work() as conn:
        row = award_resident_pension(ledger, conn, MEMBER, ON)
    assert (row.basic_fen, row.personal_fen, row.total_fen) == (12_300, 6_043, 18_343)
    assert (row.scheme, row.first_month, row.months_counted, row.divisor) == (
        "resident-pension",
        "2030-04",
        180,
        "139/1",
    )
    assert json.loads(row.inputs)["years"] == list(range(2016, 2031))
    assert "国发〔2014〕8号" in row.sources
    with ledger.unit_of_work() as conn:  # the same again writes nothing; another date refused
        assert award_resident_pension(ledger, conn, MEMBER, ON).total_fen == 18_343
        with pytest.raises(AlreadyRecorded) as refused:
            award_resident_pension(ledger, conn, MEMBER, date(2030, 3, 11))
    assert refused.value.field == "on"
    with ledger.engine.connect() as conn:
        assert len(conn.execute(select(pension_awards)).all()) == 1


def test_a_month_of_the_residents_pension_is_paid_from_the_account_and_the_subsidy(ledger):
    """April 2030: 183.43 = 60.43 from the personal account + 123.00 from the government's
    subsidy account (the basic pension), credited to the region's collection account; the
    same month again writes nothing."""
    pay_years(ledger, 2016, 2030)
    with ledger.unit_of_work() as conn:
        award_resident_pension(ledger, conn, MEMBER, ON)
    ledger.clock.advance_to(datetime(2030, 4, 10, 12, tzinfo=UTC))
    subsidy_before = bal(ledger, "subsidy:resident-pension:110000")
    with ledger.unit_of_work() as conn:
        assert awarded_members(conn, Month(2030, 3)) == []
        due = awarded_members(conn, Month(2030, 4))
        [paid] = pay_month(ledger, conn, due, Month(2030, 4), date(2030, 4, 10))
        assert pay_month(ledger, conn, due, Month(2030, 4), date(2030, 4, 10)) == []
    assert due == [MEMBER]
    assert paid.draft.idempotency_key == f"resident-pension:2030-04:{MEMBER}"
    assert bal(ledger, f"personal:resident-pension:{MEMBER}") == -840_000 + 6_043
    assert bal(ledger, "subsidy:resident-pension:110000") - subsidy_before == 12_300
    # the collection account was debited the 15 × 500.00 paid in, and is credited the pension
    assert bal(ledger, "collection:resident-pension:110000") == 15 * 50_000 - 18_343


def test_before_60_or_with_fewer_than_15_years_there_is_no_residents_pension(ledger):
    pay_years(ledger, 2017, 2030)  # 14 years
    with ledger.unit_of_work() as conn:
        with pytest.raises(NotRetired) as young:
            award_resident_pension(ledger, conn, MEMBER, date(2030, 3, 9))
        with pytest.raises(ShortOfMinimum) as short:
            award_resident_pension(ledger, conn, MEMBER, ON)
    assert young.value.field == "on"
    assert "14 years of resident contributions, 15 needed" in short.value.rule


def test_retire_scheme_resident_prints_the_award(ledger, monkeypatch, capsys):
    """``flexledger retire --scheme resident --json``: the same award as computed above."""
    from ledger.cli import context as cli_context
    from ledger.cli import main

    pay_years(ledger, 2016, 2030)
    monkeypatch.setattr(cli_context, "open_ledger", lambda: ledger)
    monkeypatch.setattr("ledger.cli.benefits.open_ledger", lambda: ledger)
    assert (
        main(["retire", "--member", MEMBER, "--on", "2030-03-10", "--scheme", "resident", "--json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert (data["basic"], data["personal"], data["total"]) == ("123.00", "60.43", "183.43")
    assert data["years_counted"] == 15 and data["scheme"] == "resident-pension"
    assert (
        main(
            [
                "retire",
                "--member",
                MEMBER,
                "--on",
                "2030-03-10",
                "--scheme",
                "resident",
                "--short",
                "refund",
            ]
        )
        == 2
    )


def test_on_death_the_residents_account_left_goes_to_the_heirs(ledger):
    """Died 2030-04-20 after April's pension: 8,400.00 − 60.43 = 8,339.57 to
    heirs:resident-pension:<member> (Social Insurance Law Art. 14), nothing paid after."""
    from ledger.operations.deaths import record_death

    pay_years(ledger, 2016, 2030)
    with ledger.unit_of_work() as conn:
        award_resident_pension(ledger, conn, MEMBER, ON)
    ledger.clock.advance_to(datetime(2030, 4, 25, 12, tzinfo=UTC))
    with ledger.unit_of_work() as conn:
        written = record_death(ledger, conn, MEMBER, date(2030, 4, 20))
    assert [r.draft.kind.value for r in written] == ["pension-payment", "inheritance"]
    assert bal(ledger, f"heirs:resident-pension:{MEMBER}") == -(840_000 - 6_043)
    assert bal(ledger, f"personal:resident-pension:{MEMBER}") == 0
    with ledger.unit_of_work() as conn:
        assert awarded_members(conn, Month(2030, 5)) == []
