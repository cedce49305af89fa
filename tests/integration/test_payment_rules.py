"""Regional payment rules, applied on every path that posts a payment, on SQLite and PostgreSQL.

Two rules the policy states and every path must apply the same way, whichever posts the
payment (``Ledger.contribute`` behind ``flexledger contribute``, the HR company's month, the
bank run, the payment workers and the simulation):

- Shanghai takes flexible employees' contributions month by month only, with no later
  catch-up that adds contribution years (沪人社规〔2023〕5号 item 6, DOMAIN.md §2;
  ``payment.frequencies`` in ``310000.toml``): a month is paid in the month itself; late, or
  ahead together with other months, it is refused naming the rule and its source, and a
  month the bank did not collect in its month is a gap closed at the end of that month.
- After a transfer out of a region (国办发〔2009〕66号, DOMAIN.md §5), that region takes no
  more payments for the scheme: the months follow the transfer to the destination, which
  enrols the member from the month of acceptance, so a month paid at the source afterwards
  would be counted where the months went while its money stayed behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from sqlalchemy import select

from ledger.cli import main
from ledger.config import Settings
from ledger.domain.clock import FixedClock
from ledger.domain.errors import MonthMovedWithTransfer, PaidOutsideItsMonth
from ledger.domain.identity import check_character
from ledger.domain.journal import EntryKind
from ledger.domain.money import round_half_up
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.fees import charge_month
from ledger.operations.payments import contribute
from ledger.operations.services import Ledger
from ledger.operations.transfers import accept_transfer, request_transfer, return_transfer
from ledger.operations.withholding import deduct_member_year
from ledger.store.queries import balance, contribution_months
from ledger.store.tables import enrolments, entries, postings
from ledger.store.worker_tables import processed_messages
from tests.rows import row_counts
from workers import actors, runtime
from workers.outbox import message_id

from .test_bank_deduction import ScriptedBank

PENSION = Scheme.PENSION
BEIJING, SHANGHAI, GUANGZHOU = "110000", "310000", "440100"
MEMBER = "11010519491231002X"
# Who moves is under 40 (a woman): from 40 a move out of the hukou province opens a
# temporary account and moves nothing (66号 Art. 5 (2), test_temporary_accounts.py).
MOVER = "11010519941231002" + check_character("11010519941231002")
SIXTY = BaseChoice.of(percent="60")


def member_id(n: int) -> str:
    body = f"110105198001{n:02d}{n:03d}"
    return body + check_character(body)


def counts(engine) -> tuple[int, ...]:
    return row_counts(engine, entries, postings, enrolments)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def periods(engine, kind: str = "contribution", region: str | None = None) -> list[str]:
    query = select(entries.c.period).where(entries.c.kind == kind).order_by(entries.c.period)
    if region is not None:
        query = query.where(entries.c.region == region)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def shanghai_ledger(engine, now: datetime, method: str = "monthly", **extra) -> Ledger:
    ledger = Ledger(engine, FixedClock(now))
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, SHANGHAI)
        ledger.enroll(
            conn, MEMBER, PENSION, SHANGHAI, SIXTY, Month(2025, 1), method=method, **extra
        )
    return ledger


# ---------------------------------------------------------------- Shanghai: monthly only


def test_a_shanghai_month_paid_in_its_own_month_is_accepted(engine):
    """沪人社规〔2023〕5号 item 6: Shanghai collects flexible employees' months monthly."""
    ledger = shanghai_ledger(engine, at(2025, 3, 20, 9))
    with ledger.unit_of_work() as conn:
        contribute(ledger, conn, MEMBER, PENSION, Month(2025, 3), None, date(2025, 3, 15))
    assert periods(engine) == ["2025-03"]


def test_a_shanghai_month_paid_late_is_refused_naming_the_rule_and_nothing_is_written(engine):
    """沪人社规〔2023〕5号 item 6 (DOMAIN.md §2): no later catch-up that adds contribution
    years, so January paid in March is refused (in Beijing the same payment is accepted:
    its window is the calendar year)."""
    ledger = shanghai_ledger(engine, at(2025, 3, 20, 9))
    before = counts(engine)
    with ledger.unit_of_work() as conn, pytest.raises(PaidOutsideItsMonth) as refused:
        contribute(ledger, conn, MEMBER, PENSION, Month(2025, 1), None, date(2025, 3, 15))
    assert refused.value.field == "paid_on"
    assert "2025-01 paid late on 2025-03-15" in refused.value.rule
    assert "沪人社规〔2023〕5号" in refused.value.rule
    assert counts(engine) == before
    other = member_id(1)
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, other, BEIJING)
        ledger.enroll(conn, other, PENSION, BEIJING, SIXTY, Month(2025, 1))
        contribute(ledger, conn, other, PENSION, Month(2025, 1), None, date(2025, 3, 15))
    assert periods(engine, region=BEIJING) == ["2025-01"]


def test_several_shanghai_months_paid_together_are_refused_whole(engine):
    """沪人社规〔2023〕5号 item 6: months one by one; paying January to March on 15 March
    (two of them late) writes none of them, not even March."""
    ledger = shanghai_ledger(engine, at(2025, 3, 20, 9))
    before = counts(engine)
    with ledger.unit_of_work() as conn, pytest.raises(PaidOutsideItsMonth):
        contribute(ledger, conn, MEMBER, PENSION, Month(2025, 1), Month(2025, 3), date(2025, 3, 15))
    assert counts(engine) == before


def test_a_shanghai_month_paid_ahead_is_refused(engine):
    """沪人社规〔2023〕5号 item 6: April cannot be paid in March either."""
    ledger = shanghai_ledger(engine, at(2025, 3, 20, 9))
    with ledger.unit_of_work() as conn, pytest.raises(PaidOutsideItsMonth) as refused:
        contribute(ledger, conn, MEMBER, PENSION, Month(2025, 4), None, date(2025, 3, 15))
    assert "paid ahead" in refused.value.rule


def test_the_cli_refuses_a_late_shanghai_month_with_exit_2_naming_the_source(env, engine, capsys):
    """The command line says the same: exit 2, one line, the rule's source, nothing written."""
    shanghai_ledger(engine, at(2025, 3, 20, 9))
    before = counts(engine)
    code = main(
        [
            "contribute",
            "--member",
            MEMBER,
            "--scheme",
            "pension",
            "--from",
            "2025-01",
            "--paid-on",
            "2025-03-15",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "paid_on: 2025-01 paid late" in err and "沪人社规〔2023〕5号" in err
    assert "Traceback" not in err
    assert counts(engine) == before


def test_an_hr_company_cannot_pay_a_past_shanghai_month(engine):
    """沪人社规〔2023〕5号 item 6 applies to a month paid through an HR company too: the
    company's month is paid in the month; a past month is refused, with no fee either."""
    ledger = shanghai_ledger(engine, at(2025, 3, 20, 9), method="agency", agency="hr-co")
    with ledger.unit_of_work() as conn:
        charge_month(ledger, conn, MEMBER, PENSION, Month(2025, 3), date(2025, 3, 20))
    before = counts(engine)
    with ledger.unit_of_work() as conn, pytest.raises(PaidOutsideItsMonth):
        charge_month(ledger, conn, MEMBER, PENSION, Month(2025, 2), date(2025, 3, 20))
    assert counts(engine) == before
    assert periods(engine) == ["2025-03"]


def test_the_hr_companies_job_run_reports_a_past_shanghai_month_refused(env, engine, capsys):
    """``jobs run affiliate-fees`` for a past Shanghai month (沪人社规〔2023〕5号 item 6):
    the member is reported refused with the rule's source and nothing is posted; the
    month's own run posts the contribution and the fee."""
    shanghai_ledger(engine, at(2025, 3, 20, 9), method="agency", agency="hr-co")
    before = counts(engine)
    assert (
        main(["jobs", "run", "affiliate-fees", "--month", "2025-02", "--today", "2025-03-20"]) == 0
    )
    out = capsys.readouterr().out
    assert "PaidOutsideItsMonth" in out and "2025-02 paid late" in out
    assert counts(engine)[:2] == before[:2]
    assert (
        main(["jobs", "run", "affiliate-fees", "--month", "2025-03", "--today", "2025-03-20"]) == 0
    )
    assert periods(engine) == ["2025-03"] and periods(engine, kind="fee") == ["2025-03"]


def test_a_june_bank_run_in_shanghai_collects_june_and_records_earlier_months_as_gaps(engine):
    """沪人社规〔2023〕5号 item 6 and DOMAIN.md §9: a bank run on 25 June in Shanghai can
    collect only June; January to May, never collected in their own month, are gaps closed
    at the end of each month (in Beijing the same run collects January to June)."""
    ledger = shanghai_ledger(engine, at(2025, 6, 25, 9), method="bank", signed_on=date(2024, 12, 1))
    with ledger.unit_of_work() as conn:
        result = deduct_member_year(
            ledger, conn, MEMBER, PENSION, 2025, ScriptedBank(), date(2025, 6, 25)
        )
    assert [r.draft.period for r in result.posted] == ["2025-06"]
    with engine.connect() as conn:
        gaps = conn.execute(
            select(entries.c.period, entries.c.effective_date)
            .where(entries.c.kind == EntryKind.ARREARS.value)
            .order_by(entries.c.period)
        ).all()
    assert [(p, d) for p, d in gaps] == [
        (str(m), m.last_day) for m in Month(2025, 1).until(Month(2025, 5))
    ]


def test_the_payment_workers_refuse_a_late_shanghai_month_and_post_the_rest(engine, rt):
    """The workers' batch path applies the rule as the command does: the late Shanghai month
    is reported refused with its reason, the Beijing member's months in the same message post."""
    ledger = shanghai_ledger(engine, at(2025, 3, 20, 9))
    other = member_id(2)
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, other, BEIJING)
        ledger.enroll(conn, other, PENSION, BEIJING, SIXTY, Month(2025, 1))
    key = "test:shanghai-late"
    actors.post_payments_batch(
        message_id(key, 0),
        key,
        [[MEMBER, "pension"], [other, "pension"]],
        "2025-01",
        "2025-01",
        "2025-03-15",
        None,
    )
    outcome, error = _processed(engine)
    assert outcome["counts"] == {"posted": 1, "refused": 1}
    assert "PaidOutsideItsMonth" in error and "沪人社规〔2023〕5号" in error
    assert periods(engine, region=SHANGHAI) == [] and periods(engine, region=BEIJING) == ["2025-01"]


# ---------------------------------------------------------------- after a transfer


def moved_to_guangzhou(engine, accepted: date | None = date(2025, 7, 20)) -> tuple[Ledger, str]:
    """Beijing at 60% January to June 2025 (paid 20 June), a transfer to Guangzhou
    requested on 10 July and (unless ``accepted`` is None) accepted on ``accepted``."""
    ledger = Ledger(engine, FixedClock(at(2025, 9, 1, 9)))
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MOVER, BEIJING)
        ledger.enroll(conn, MOVER, PENSION, BEIJING, SIXTY, Month(2025, 1))
        contribute(ledger, conn, MOVER, PENSION, Month(2025, 1), Month(2025, 6), date(2025, 6, 20))
        transfer_id = request_transfer(ledger, conn, MOVER, PENSION, GUANGZHOU, date(2025, 7, 10))
        if accepted is not None:
            accept_transfer(ledger, conn, transfer_id, accepted)
    return ledger, transfer_id


def test_a_month_paid_at_the_source_after_an_accepted_transfer_is_refused(engine):
    """国办发〔2009〕66号 (DOMAIN.md §5): the relationship left Beijing with the transfer of
    10 July; paying Beijing for July afterwards is refused naming where it went, nothing
    is written."""
    ledger, transfer_id = moved_to_guangzhou(engine, accepted=date(2025, 8, 20))
    before = counts(engine)
    with ledger.unit_of_work() as conn, pytest.raises(MonthMovedWithTransfer) as refused:
        contribute(ledger, conn, MOVER, PENSION, Month(2025, 7), None, date(2025, 8, 25))
    assert refused.value.field == "from"
    assert transfer_id in refused.value.rule and "440100" in refused.value.rule
    assert "国办发〔2009〕66号" in refused.value.rule
    assert counts(engine) == before


def test_a_month_paid_at_the_source_while_the_transfer_is_in_transit_is_refused(engine):
    """国办发〔2009〕66号: once the source sent the money the months went with it, accepted
    yet or not; returned, the relationship is back and the month can be paid there."""
    ledger, transfer_id = moved_to_guangzhou(engine, accepted=None)
    with ledger.unit_of_work() as conn, pytest.raises(MonthMovedWithTransfer):
        contribute(ledger, conn, MOVER, PENSION, Month(2025, 7), None, date(2025, 7, 15))
    with ledger.unit_of_work() as conn:
        return_transfer(ledger, conn, transfer_id, date(2025, 8, 1), "rejected: no documents")
        contribute(ledger, conn, MOVER, PENSION, Month(2025, 7), None, date(2025, 8, 5))
    assert periods(engine, region=BEIJING)[-1] == "2025-07"


def test_the_month_of_acceptance_is_paid_at_the_destination_whose_fund_holds_12_percent(engine):
    """国办发〔2009〕66号 Art. 4 and DOMAIN.md §5: the pooling money moved is 12% of each
    year's base; the destination enrols the member from the month of acceptance (July), so
    July's contribution credits Guangzhou's pooling fund with its 12% (20% rate, 8% to the
    personal account: 国发〔2005〕38号). Guangzhou's pooling fund then equals 12% of the
    bases of every month ``months`` says it holds, to the fen of each rounding."""
    ledger, _ = moved_to_guangzhou(engine)
    with ledger.unit_of_work() as conn:
        contribute(ledger, conn, MOVER, PENSION, Month(2025, 7), None, date(2025, 7, 25))
    with engine.connect() as conn:
        bases = dict(
            conn.execute(
                select(entries.c.period, entries.c.base_fen).where(entries.c.kind == "contribution")
            ).all()
        )
        held = {c.region: c for c in contribution_months(conn, MOVER)}
        fund = -balance(conn, f"pooling:pension:{GUANGZHOU}", date(2025, 12, 31))
        left_behind = -balance(conn, f"pooling:pension:{BEIJING}", date(2025, 12, 31))
    assert held[BEIJING].months == 6 and held[BEIJING].held_in == GUANGZHOU
    assert held[GUANGZHOU].months == 1 and held[GUANGZHOU].first == "2025-07"
    twelve = Fraction(12, 100)
    moved = round_half_up(sum(bases[f"2025-{m:02d}"] for m in range(1, 7)) * twelve)
    july = round_half_up(bases["2025-07"] * twelve)
    assert fund == moved + july
    # Beijing kept its pooling money beyond the 12% (the 20% rate's pooling share is 12%
    # as well, so only the per-month rounding is left there).
    per_month = sum(round_half_up(bases[f"2025-{m:02d}"] * twelve) for m in range(1, 7))
    assert left_behind == per_month - moved


def test_an_hr_company_cannot_pay_the_source_after_the_transfer(engine):
    """国办发〔2009〕66号: the company's month at the source is refused like the member's own."""
    ledger = Ledger(engine, FixedClock(at(2025, 9, 1, 9)))
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MOVER, BEIJING)
        ledger.enroll(
            conn, MOVER, PENSION, BEIJING, SIXTY, Month(2025, 1), method="agency", agency="hr-co"
        )
        charge_month(ledger, conn, MOVER, PENSION, Month(2025, 6), date(2025, 6, 20))
        moved = request_transfer(ledger, conn, MOVER, PENSION, GUANGZHOU, date(2025, 7, 10))
        accept_transfer(ledger, conn, moved, date(2025, 8, 20))
    before = counts(engine)
    with ledger.unit_of_work() as conn, pytest.raises(MonthMovedWithTransfer):
        charge_month(ledger, conn, MOVER, PENSION, Month(2025, 7), date(2025, 8, 20))
    assert counts(engine) == before
    with ledger.unit_of_work() as conn:  # August is Guangzhou's, through the same company
        charge_month(ledger, conn, MOVER, PENSION, Month(2025, 8), date(2025, 8, 20))
    assert periods(engine, region=GUANGZHOU) == ["2025-08"]


def test_a_bank_run_after_the_transfer_neither_charges_nor_gaps_the_source(engine):
    """国办发〔2009〕66号 and DOMAIN.md §9: the December run after a July move collects the
    destination's months from the month of acceptance; the source's July, left when the
    relationship moved, is neither charged there nor recorded as a gap there."""
    ledger = Ledger(engine, FixedClock(at(2025, 12, 25, 9)))
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MOVER, BEIJING)
        ledger.enroll(
            conn,
            MOVER,
            PENSION,
            BEIJING,
            SIXTY,
            Month(2025, 1),
            method="bank",
            signed_on=date(2024, 12, 1),
        )
        deduct_member_year(ledger, conn, MOVER, PENSION, 2025, ScriptedBank(), date(2025, 6, 25))
        moved = request_transfer(ledger, conn, MOVER, PENSION, GUANGZHOU, date(2025, 7, 10))
        accept_transfer(ledger, conn, moved, date(2025, 8, 20))
        result = deduct_member_year(
            ledger, conn, MOVER, PENSION, 2025, ScriptedBank(), date(2025, 12, 25)
        )
    assert [r.draft.period for r in result.posted] == [f"2025-{m:02d}" for m in range(8, 13)]
    assert periods(engine, region=GUANGZHOU) == [f"2025-{m:02d}" for m in range(8, 13)]
    assert periods(engine, kind=EntryKind.ARREARS.value) == []


def test_the_payment_workers_refuse_the_source_after_a_transfer(engine, rt):
    """The workers' batch path refuses the same month the same way."""
    moved_to_guangzhou(engine, accepted=date(2025, 8, 20))
    key = "test:after-transfer"
    actors.post_payments_batch(
        message_id(key, 0), key, [[MOVER, "pension"]], "2025-07", "2025-07", "2025-08-25", None
    )
    outcome, error = _processed(engine)
    assert outcome["counts"] == {"refused": 1}
    assert "MonthMovedWithTransfer" in error and "国办发〔2009〕66号" in error


def test_the_cli_refuses_the_source_after_a_transfer_with_exit_2(env, engine, capsys):
    """国办发〔2009〕66号: ``flexledger contribute`` at the source after the transfer is exit 2."""
    moved_to_guangzhou(engine, accepted=date(2025, 8, 20))
    before = counts(engine)
    code = main(
        [
            "contribute",
            "--member",
            MOVER,
            "--scheme",
            "pension",
            "--from",
            "2025-07",
            "--paid-on",
            "2025-08-25",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "from: 2025-07 cannot be paid in 110000" in err
    assert "transferred out of 110000 to 440100" in err and "Traceback" not in err
    assert counts(engine) == before


# ---------------------------------------------------------------- helpers


@pytest.fixture
def rt(engine, empty_database) -> Iterator[runtime.Runtime]:
    yield runtime.configure(
        Settings(database_url=empty_database.url),
        engine=engine,
        clock=FixedClock(at(2025, 9, 1, 9)),
    )
    runtime.configure(Settings())


def _processed(engine) -> tuple[dict, str]:
    """The message's recorded outcome, and its refusals as one text."""
    with engine.connect() as conn:
        outcome = json.loads(conn.execute(select(processed_messages.c.outcome)).scalar_one())
    return outcome, json.dumps(outcome.get("problems"), ensure_ascii=False)
