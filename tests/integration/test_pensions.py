"""The benefit phase on SQLite and PostgreSQL: award, monthly payments, death, short of the minimum.

Given a man born 1965-06-15 (retirement age 60y2m under the NPC decision of 2024-09-13:
born 1965-05 to 1965-08, two months' delay, so he retires on 2025-08-15) who paid Beijing's
pension at a base of 8,000.00 yuan for the 180 months 2010-08 to 2025-07, when he retires,
then his award is the formula of DOMAIN.md §6 on the ledger's own months, recorded with
every input; each month he is paid his pension from the pooling fund and his personal
account, the pooling fund going on once the account is spent.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from sqlalchemy import select, update

from ledger.domain.clock import FixedClock
from ledger.domain.errors import BadInput, NotEnrolled, NotRetired, ShortOfMinimum
from ledger.domain.identity import check_character
from ledger.domain.money import round_half_up
from ledger.domain.period import Month
from ledger.domain.rules.benefit import recompute_basic_fen
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.deaths import record_death
from ledger.operations.payments import contribute
from ledger.operations.pension_payments import awarded_members, pay_month
from ledger.operations.retirements import award_pension, record_short_choice
from ledger.operations.services import Ledger
from ledger.store.queries import balance
from ledger.store.tables import benefit_events, entries, pension_awards, postings
from ledger.store.verify import verify
from tests.pension_history import history_policy
from tests.rows import row_counts

MEMBER = "110105196506150" + "01" + check_character("11010519650615001")
SHORT = "110105196505200" + "03" + check_character("11010519650520003")
WOMAN_50 = "110105197509100" + "02" + check_character("11010519750910002")
PAY_ON = "110105196504100" + "05" + check_character("11010519650410005")
BEIJING = "110000"
PENSION = Scheme.PENSION
RETIRED = date(2025, 8, 15)
# Beijing's average wages of the records in force, yuan (ledger/domain/policy/data/110000.toml; the
# 2010-07 to 2016-06 months under the 2016 record carried back, tests/pension_history.py).
WAGE_MONTHS = [
    (7086, 71 + 12),
    (7706, 12),
    (8467, 36),
    (9407, 12),
    (10628, 12),
    (11297, 12),
    (11761, 12),
    (11937, 1),
]


def pay_years(ledger: Ledger, conn, member: str, first: Month, last: Month) -> None:
    """Pay first..last, each calendar year's months on 20 December (the window)."""
    for year in range(first.year, last.year + 1):
        start = first if year == first.year else Month(year, 1)
        end = last if year == last.year else Month(year, 12)
        contribute(
            ledger, conn, member, PENSION, start, end, min(date(year, 12, 20), date(2025, 7, 20))
        )


@pytest.fixture
def ledger(engine) -> Ledger:
    ledger = Ledger(engine, FixedClock(datetime(2025, 8, 20, 9, tzinfo=UTC)), history_policy())
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, BEIJING)
        ledger.enroll(conn, MEMBER, PENSION, BEIJING, BaseChoice.of(amount="8000"), Month(2010, 8))
        pay_years(ledger, conn, MEMBER, Month(2010, 8), Month(2025, 7))
    return ledger


def retire(ledger: Ledger, member: str = MEMBER, on: date = RETIRED):
    with ledger.unit_of_work() as conn:
        return award_pension(ledger, conn, member, on)


def bal(ledger: Ledger, account: str) -> int:
    with ledger.engine.connect() as conn:
        return balance(conn, account, date(2099, 12, 31))


def pay(ledger: Ledger, month: Month, on: date | None = None):
    day = on or month.first_day.replace(day=10)
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    if at > ledger.clock.now():
        ledger.clock.advance_to(at)
    with ledger.unit_of_work() as conn:
        return pay_month(ledger, conn, awarded_members(conn, month), month, day)


def test_the_award_is_computed_from_the_ledgers_months_to_the_fen_and_recorded_with_its_inputs(
    ledger,
):
    """DOMAIN.md §6, by hand. 180 months (2010-08..2025-07) at 8,000.00; index of a month =
    8,000 ÷ the average wage in force that month: 83 months at 7,086, 12 at 7,706, 36 at
    8,467, 12 each at 9,407, 10,628, 11,297, 11,761 and 1 at 11,937 — average 0.981926…
    C = 12,049 (Beijing 2025, DOMAIN.md §6). Basic = 12,049 × (1 + 0.981926…) / 2 × 15 ×
    1% = 1,791.0212… → 1,791.02. Personal account: 8% × 8,000 × 180 = 115,200.00 (no
    interest credited); age 60 → divisor 139 (国发〔2005〕38号); 115,200 ÷ 139 = 828.7769…
    → 828.78. Total 2,619.80."""
    index_sum = sum((Fraction(8000 * n, wage) for wage, n in WAGE_MONTHS), Fraction(0))
    average = index_sum / 180
    assert 0.98192 < float(average) < 0.98193
    award = retire(ledger)
    assert award.created and award.region == BEIJING and award.first_month == Month(2025, 9)
    assert (award.months_counted, award.average_index) == (180, average)
    assert (award.basic_fen, award.personal_fen, award.total_fen) == (179102, 82878, 261980)
    with ledger.engine.connect() as conn:
        row = conn.execute(select(pension_awards)).one()
    assert (row.calculation_base_fen, row.personal_balance_fen, row.divisor) == (
        1204900,
        11520000,
        "139/1",
    )
    assert (row.age_years, row.age_extra_months, row.minimum_months) == (60, 2, 180)
    # An auditor recomputes the award from the row alone.
    assert Fraction(row.index_sum) / row.months_counted == Fraction(row.average_index)
    assert (
        recompute_basic_fen(
            row.calculation_base_fen, Fraction(row.average_index), row.months_counted
        )
        == row.basic_fen
    )
    assert round_half_up(Fraction(row.personal_balance_fen) / Fraction(row.divisor)) == 82878
    months = json.loads(row.inputs)["months"]
    assert sum(m["months"] for m in months) == 180
    assert sum(Fraction(m["index_sum"]) for m in months) == Fraction(row.index_sum)
    assert "12,049" in row.sources and "国发〔2005〕38号" in row.sources


def test_retiring_again_writes_nothing_and_another_date_is_refused_naming_on(ledger):
    retire(ledger)
    before = row_counts(ledger.engine, entries, postings, pension_awards)
    again = retire(ledger)
    assert not again.created and again.total_fen == 261980
    with pytest.raises(BadInput) as refused:
        retire(ledger, on=date(2025, 9, 1))
    assert refused.value.field == "on"
    assert row_counts(ledger.engine, entries, postings, pension_awards) == before


def test_retiring_before_the_statutory_date_is_refused_naming_on(ledger):
    """Born 1965-06-15: 60y2m, so 2025-08-15 (NPC decision 2024-09-13); 2025-08-14 is early."""
    with pytest.raises(BadInput) as refused:
        retire(ledger, on=date(2025, 8, 14))
    assert refused.value.field == "on" and "2025-08-15" in refused.value.rule


def test_a_month_pays_basic_from_pooling_and_the_personal_pension_from_the_account(ledger):
    """2025-09, the first month after retirement (次月): 2,619.80 paid, 1,791.02 from
    Beijing's pooling fund, 828.78 from the personal account (DOMAIN.md §6)."""
    retire(ledger)
    pool, own = bal(ledger, "pooling:pension:110000"), bal(ledger, f"personal:pension:{MEMBER}")
    cash = bal(ledger, "collection:pension:110000")
    [paid] = pay(ledger, Month(2025, 9))
    assert paid.draft.kind.value == "pension-payment" and paid.draft.period == "2025-09"
    assert bal(ledger, "pooling:pension:110000") - pool == 179102
    assert bal(ledger, f"personal:pension:{MEMBER}") - own == 82878
    assert bal(ledger, "collection:pension:110000") - cash == -261980
    assert pay(ledger, Month(2025, 9), date(2025, 9, 12)) == []  # the same month again


def test_once_the_personal_account_is_spent_the_pooling_fund_pays_that_part(ledger):
    """115,200.00 ÷ 828.78 a month: after 138 months 828.36 is left (115,200.00 − 138 ×
    828.78), so month 139 (2037-03) takes 828.36 from the account and 0.42 from pooling,
    and month 140 (2037-04) takes all 2,619.80 from pooling (国发〔2005〕38号). No yearly
    increase is in the files after 2025, so the pension stays 2,619.80."""
    retire(ledger)
    ledger.clock.advance_to(datetime(2037, 3, 1, tzinfo=UTC))
    with ledger.unit_of_work() as conn:
        for n in range(138):
            month = Month(2025, 9) + n
            pay_month(ledger, conn, [MEMBER], month, month.first_day)
    assert -bal(ledger, f"personal:pension:{MEMBER}") == 82836
    pool = bal(ledger, "pooling:pension:110000")
    pay(ledger, Month(2037, 3))
    assert bal(ledger, f"personal:pension:{MEMBER}") == 0
    assert bal(ledger, "pooling:pension:110000") - pool == 179102 + 42
    pay(ledger, Month(2037, 4))
    assert bal(ledger, f"personal:pension:{MEMBER}") == 0
    assert bal(ledger, "pooling:pension:110000") - pool == 179102 + 42 + 261980


def test_on_death_the_personal_account_left_goes_to_the_heirs_and_the_pension_stops(ledger):
    """Died 2025-10-20: September and October are paid (the month of death is paid), so
    115,200.00 − 2 × 828.78 = 113,542.44 is owed to the heirs (Social Insurance Law Art.
    14); no pension from November."""
    retire(ledger)
    pay(ledger, Month(2025, 9))
    ledger.clock.advance_to(datetime(2025, 10, 25, tzinfo=UTC))
    with ledger.unit_of_work() as conn:
        october, inherited = record_death(ledger, conn, MEMBER, date(2025, 10, 20))
    assert (october.draft.kind.value, october.draft.period) == ("pension-payment", "2025-10")
    assert inherited.draft.kind.value == "inheritance"
    assert bal(ledger, f"heirs:pension:{MEMBER}") == -11354244
    assert bal(ledger, f"personal:pension:{MEMBER}") == 0
    assert pay(ledger, Month(2025, 11)) == []
    before = row_counts(ledger.engine, entries, postings, benefit_events)
    with ledger.unit_of_work() as conn:
        assert record_death(ledger, conn, MEMBER, date(2025, 10, 20)) == []
        with pytest.raises(BadInput) as refused:
            record_death(ledger, conn, MEMBER, date(2025, 10, 21))
    assert refused.value.field == "on"
    assert row_counts(ledger.engine, entries, postings, benefit_events) == before
    with ledger.engine.connect() as conn:
        assert verify(conn).ok


@pytest.fixture
def short(ledger) -> Ledger:
    """Born 1965-05-20 (60y2m: retires 2025-07-20), paid 2016-07..2025-06: 108 months."""
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, SHORT, BEIJING)
        ledger.enroll(conn, SHORT, PENSION, BEIJING, BaseChoice.of(amount="8000"), Month(2016, 7))
        pay_years(ledger, conn, SHORT, Month(2016, 7), Month(2025, 6))
    return ledger


def test_a_member_short_of_the_minimum_is_refused_a_pension_and_must_choose(short):
    """108 months against 180 for 2025 (Social Insurance Law Art. 16): no award."""
    with pytest.raises(ShortOfMinimum) as refused:
        retire(short, SHORT, date(2025, 7, 20))
    assert "108 months, 180 needed" in refused.value.rule
    with short.engine.connect() as conn:
        assert conn.execute(select(pension_awards)).all() == []


def test_ending_short_of_the_minimum_refunds_the_personal_account(short):
    """108 × 8% × 8,000.00 = 69,120.00 moves to refunds:pension:<member>."""
    with short.unit_of_work() as conn:
        [refund] = record_short_choice(short, conn, SHORT, date(2025, 7, 20), "refund")
    assert refund.draft.kind.value == "refund"
    assert bal(short, f"refunds:pension:{SHORT}") == -6912000
    assert bal(short, f"personal:pension:{SHORT}") == 0
    with short.unit_of_work() as conn:
        assert record_short_choice(short, conn, SHORT, date(2025, 7, 20), "refund") == []
        with pytest.raises(BadInput) as refused:
            record_short_choice(short, conn, SHORT, date(2025, 7, 20), "pay-on")
        assert refused.value.field == "choice"
        with pytest.raises(BadInput):
            award_pension(short, conn, SHORT, date(2025, 7, 20))


def test_moving_to_the_residents_scheme_merges_the_personal_account(short):
    """人社部发〔2014〕17号: the employee personal account merges into the resident one."""
    with short.unit_of_work() as conn:
        record_short_choice(short, conn, SHORT, date(2025, 7, 20), "resident")
    assert bal(short, f"personal:resident-pension:{SHORT}") == -6912000
    assert bal(short, f"personal:pension:{SHORT}") == 0


def test_paying_on_is_recorded_and_writes_no_entry(short):
    with short.unit_of_work() as conn:
        assert record_short_choice(short, conn, SHORT, date(2025, 7, 20), "pay-on") == []
    with short.engine.connect() as conn:
        [event] = conn.execute(select(benefit_events)).all()
    assert (event.kind, event.choice) == ("short-of-minimum", "pay-on")
    assert "108 months paid, 180 needed" in event.detail
    assert bal(short, f"personal:pension:{SHORT}") == -6912000


def test_awards_and_events_are_append_only(short):
    retire(short)
    with short.unit_of_work() as conn:
        record_short_choice(short, conn, SHORT, date(2025, 7, 20), "pay-on")
    for table in (pension_awards, benefit_events):
        with pytest.raises(Exception, match="append-only"):
            with short.engine.begin() as conn:
                conn.execute(update(table).values(member_id=MEMBER))


def test_refunding_ends_the_employee_enrolment_so_no_later_month_is_accepted(short):
    """Ending the insurance (refund) ends the employee pension enrolment with 2025-06, the
    month before the choice on 2025-07-20: July is refused (NotEnrolled), nothing written;
    the refund is the personal account as recorded, 108 × 8% × 8,000.00 = 69,120.00."""
    with short.unit_of_work() as conn:
        [refund] = record_short_choice(short, conn, SHORT, date(2025, 7, 20), "refund")
        [ended] = short.enrolments(conn, SHORT, PENSION)[-1:]
    assert refund.draft.postings[0].amount_fen == 6912000
    assert ended.to_month == Month(2025, 6)
    before = row_counts(short.engine, entries, postings)
    with pytest.raises(NotEnrolled) as refused:
        with short.unit_of_work() as conn:
            contribute(
                short, conn, SHORT, PENSION, Month(2025, 7), Month(2025, 7), date(2025, 7, 20)
            )
    assert refused.value.field == "from"
    assert row_counts(short.engine, entries, postings) == before
    with short.unit_of_work() as conn:  # the same choice again ends nothing more
        assert record_short_choice(short, conn, SHORT, date(2025, 7, 20), "refund") == []
        assert len(short.enrolments(conn, SHORT, PENSION)) == 2


def test_refunding_refuses_back_pay_of_a_month_still_open_before_it(ledger):
    """A month before the refund is inside the ended enrolment and its calendar-year
    window (DOMAIN.md §2), but the insurance has ended (Social Insurance Law Art. 16: the
    personal account was paid out): June, paid in August, is refused, nothing written."""
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, SHORT, BEIJING)
        ledger.enroll(conn, SHORT, PENSION, BEIJING, BaseChoice.of(amount="8000"), Month(2016, 7))
        pay_years(ledger, conn, SHORT, Month(2016, 7), Month(2025, 5))
        record_short_choice(ledger, conn, SHORT, date(2025, 7, 20), "refund")
    before = row_counts(ledger.engine, entries, postings)
    with pytest.raises(BadInput) as refused:
        with ledger.unit_of_work() as conn:
            contribute(ledger, conn, SHORT, PENSION, Month(2025, 6), None, date(2025, 8, 1))
    assert refused.value.field == "paid_on"
    assert "ended on 2025-07-20" in refused.value.rule
    assert row_counts(ledger.engine, entries, postings) == before


def test_refunding_the_pension_leaves_the_medical_insurance_in_force(short):
    """The refund ends the employee *pension* insurance (Social Insurance Law Art. 16 is a
    pension rule; DOMAIN.md §3 gives medical its own rules, none ending it with the
    pension): the member's medical enrolment goes on, and July's medical is accepted."""
    with short.unit_of_work() as conn:
        short.enroll(conn, SHORT, Scheme.MEDICAL, BEIJING, BaseChoice.of(), Month(2025, 1))
        record_short_choice(short, conn, SHORT, date(2025, 7, 20), "refund")
        assert short.enrolments(conn, SHORT, Scheme.MEDICAL)[-1].to_month is None
        paid = contribute(
            short, conn, SHORT, Scheme.MEDICAL, Month(2025, 7), Month(2025, 7), date(2025, 7, 20)
        )
    assert [r.draft.period for r in paid] == ["2025-07"]


def test_moving_to_the_residents_scheme_ends_the_employee_enrolment(short):
    with short.unit_of_work() as conn:
        record_short_choice(short, conn, SHORT, date(2025, 7, 20), "resident")
        assert short.enrolments(conn, SHORT, PENSION)[-1].to_month == Month(2025, 6)
        with pytest.raises(NotEnrolled):
            contribute(
                short, conn, SHORT, PENSION, Month(2025, 7), Month(2025, 7), date(2025, 7, 20)
            )


def test_paying_on_to_the_minimum_then_retiring_awards_the_pension(ledger):
    """Born 1965-04-10: retirement age 60y1m (born 1965-01 to 1965-04, NPC decision
    2024-09-13), so he reaches it on 2025-05-10 with 2011-01..2025-04 paid, 172 months at
    8,000.00 — 8 short of 180 (Social Insurance Law Art. 16). He chooses pay-on, pays
    2025-05..2025-12 on 2025-12-20 (the enrolment goes on), and retires on 2025-12-31 with
    180 months: awarded, 180 months counted; personal account 180 × 640.00 = 115,200.00,
    age 60 → divisor 139 (国发〔2005〕38号): 115,200 ÷ 139 = 828.7769… → 828.78."""
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, PAY_ON, BEIJING)
        ledger.enroll(conn, PAY_ON, PENSION, BEIJING, BaseChoice.of(amount="8000"), Month(2011, 1))
        pay_years(ledger, conn, PAY_ON, Month(2011, 1), Month(2025, 4))
    with pytest.raises(ShortOfMinimum):
        retire(ledger, PAY_ON, date(2025, 5, 10))
    with ledger.unit_of_work() as conn:
        assert record_short_choice(ledger, conn, PAY_ON, date(2025, 5, 10), "pay-on") == []
        assert ledger.enrolments(conn, PAY_ON, PENSION)[-1].to_month is None
    ledger.clock.advance_to(datetime(2025, 12, 31, 9, tzinfo=UTC))
    with ledger.unit_of_work() as conn:
        contribute(
            ledger, conn, PAY_ON, PENSION, Month(2025, 5), Month(2025, 12), date(2025, 12, 20)
        )
    award = retire(ledger, PAY_ON, date(2025, 12, 31))
    assert award.created and award.months_counted == 180
    assert award.first_month == Month(2026, 1)
    assert award.personal_fen == 82878


def test_a_woman_worker_retiring_from_50_is_awarded_with_the_divisor_for_50(ledger):
    """A woman born 1975-09-10 in the female-50 category (women workers retiring from 50):
    NPC decision 2024-09-13, annex 2, one month per 2 months of birth from 1975-01 → born
    1975-09, (8 // 2) + 1 = 5 months: 50y5m, she retires on 2026-02-10. She paid the same
    180 months as the man of the first test (2010-08..2025-07 at 8,000.00), so her basic
    pension is the same by hand: C = 12,049 (Beijing 2025, in force 2026-02), 12,049 ×
    (1 + 0.981926…) / 2 × 15 × 1% = 1,791.02. Personal account 115,200.00 ÷ 195 (the
    divisor at 50, 国发〔2005〕38号 table, DOMAIN.md §6) = 590.7692… → 590.77; total 2,381.79.
    In the default female-55 category she is refused (her date would be 55 and more), and
    a man's category for her is refused naming category."""
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, WOMAN_50, BEIJING)
        ledger.enroll(
            conn, WOMAN_50, PENSION, BEIJING, BaseChoice.of(amount="8000"), Month(2010, 8)
        )
        pay_years(ledger, conn, WOMAN_50, Month(2010, 8), Month(2025, 7))
    on = date(2026, 2, 10)
    ledger.clock.advance_to(datetime(2026, 2, 10, 9, tzinfo=UTC))
    with pytest.raises(NotRetired) as too_early:
        retire(ledger, WOMAN_50, on)
    assert too_early.value.field == "on"
    with pytest.raises(BadInput) as wrong:
        with ledger.unit_of_work() as conn:
            award_pension(ledger, conn, WOMAN_50, on, "male")
    assert wrong.value.field == "category"
    with pytest.raises(NotRetired):  # a day before 50y5m
        with ledger.unit_of_work() as conn:
            award_pension(ledger, conn, WOMAN_50, date(2026, 2, 9), "female-50")
    with ledger.unit_of_work() as conn:
        award = award_pension(ledger, conn, WOMAN_50, on, "female-50")
    assert (award.basic_fen, award.personal_fen, award.total_fen) == (179102, 59077, 238179)
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(pension_awards).where(pension_awards.c.member_id == WOMAN_50)
        ).one()
    assert (row.age_years, row.age_extra_months, row.divisor) == (50, 5, "195/1")
    assert json.loads(row.inputs)["category"] == "female-50"
