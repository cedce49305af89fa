"""The temporary-account rule in transfers, on both backends (国办发〔2009〕66号 Art. 5 (2)).

DOMAIN.md §5: men of 50 and over and women of 40 and over enrolling outside their hukou
province keep the relationship where it is and open a temporary account in the new place.
Given members with a Beijing hukou who paid Beijing's pension at 60% for 2024-01 to
2025-06, when they move to Shanghai on 2025-07-10, then a man of 55 and a woman of 41 move
no money (a temporary account opens in Shanghai, the relationship stays in Beijing) and a
man of 49 transfers as before.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from ledger.cli import main
from ledger.cli.context import settings as cli_settings
from ledger.domain import keys
from ledger.domain.clock import FixedClock
from ledger.domain.identity import check_character
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.payments import contribute
from ledger.operations.services import Ledger
from ledger.operations.temporary import collect_at_award
from ledger.operations.transfers import (
    TransferStatus,
    find_transfer,
    request,
    request_transfer,
)
from ledger.store.queries import balance, pension_place_of
from ledger.store.tables import entries, postings, temporary_accounts
from tests.rows import row_counts


def citizen(first17: str) -> str:
    return first17 + check_character(first17)


MAN_55 = citizen("11010519700310001")  # 55 on 2025-07-10
MAN_49 = citizen("11010519760110003")  # 49 on 2025-07-10
WOMAN_41 = citizen("11010519840202002")  # 41 on 2025-07-10
BEIJING, SHANGHAI, TIANJIN = "110000", "310000", "120000"
PENSION = Scheme.PENSION
MOVED = date(2025, 7, 10)


@pytest.fixture
def ledger(engine) -> Ledger:
    ledger = Ledger(engine, FixedClock(datetime(2026, 1, 10, 9, tzinfo=UTC)))
    with ledger.unit_of_work() as conn:
        for member in (MAN_55, MAN_49, WOMAN_41):
            ledger.add_member(conn, member, BEIJING)
            ledger.enroll(
                conn, member, PENSION, BEIJING, BaseChoice.of(percent="60"), Month(2024, 1)
            )
            contribute(
                ledger, conn, member, PENSION, Month(2024, 1), Month(2024, 12), date(2024, 12, 20)
            )
            contribute(
                ledger, conn, member, PENSION, Month(2025, 1), Month(2025, 6), date(2025, 6, 20)
            )
    return ledger


def bal(ledger: Ledger, account: str) -> int:
    with ledger.engine.connect() as conn:
        return balance(conn, account, date(2026, 12, 31))


def move(ledger: Ledger, member: str, to: str = SHANGHAI, on: date = MOVED) -> str:
    with ledger.unit_of_work() as conn:
        return request_transfer(ledger, conn, member, PENSION, to, on)


@pytest.mark.parametrize("member", [MAN_55, WOMAN_41])
def test_a_man_of_55_or_a_woman_of_41_moving_out_of_province_opens_a_temporary_account(
    ledger, member
):
    """66号 Art. 5 (2): nothing moves; Beijing keeps the relationship and the money."""
    personal_before = bal(ledger, f"personal:pension:{member}")
    pooling_before = bal(ledger, "pooling:pension:110000")
    transfer_id = move(ledger, member)
    with ledger.engine.connect() as conn:
        assert find_transfer(conn, transfer_id) is None
        [row] = conn.execute(select(temporary_accounts)).all()
        found = ledger.enrolments(conn, member, PENSION)
    assert (row.member_id, row.region, row.kept_in, row.from_month) == (
        member,
        SHANGHAI,
        BEIJING,
        "2025-08",
    )
    assert bal(ledger, f"personal:pension:{member}") == personal_before
    assert bal(ledger, "pooling:pension:110000") == pooling_before
    enrolment = ledger.enrolment_for(found, Month(2025, 8))
    assert enrolment is not None and enrolment.region == SHANGHAI
    before = row_counts(ledger.engine, entries, postings, temporary_accounts)
    assert move(ledger, member) == transfer_id  # the same request again: nothing
    assert row_counts(ledger.engine, entries, postings, temporary_accounts) == before


def test_a_man_of_49_transfers_his_money_as_before(ledger):
    transfer_id = move(ledger, MAN_49)
    with ledger.engine.connect() as conn:
        found = find_transfer(conn, transfer_id)
        assert conn.execute(select(temporary_accounts)).all() == []
    assert found is not None and found.status is TransferStatus.OUT
    assert bal(ledger, f"personal:pension:{MAN_49}") == 0


def test_a_days_batch_opens_the_temporary_account_and_moves_the_younger_mans_money(ledger):
    """One batch, two men moving to Shanghai: the 49-year-old's money leaves; the
    55-year-old's request opens a temporary account and moves nothing (66号 Art. 5 (2))."""
    old, young = (keys.transfer_id(m, PENSION, SHANGHAI, MOVED) for m in (MAN_55, MAN_49))
    with ledger.unit_of_work() as conn:
        kept, moved = request(ledger, conn, [old, young], MOVED)
    assert kept.temporary and kept.kept_in == BEIJING and kept.draft is None
    assert moved.draft is not None and not moved.temporary
    with ledger.engine.connect() as conn:
        assert find_transfer(conn, old) is None
        assert find_transfer(conn, young).status is TransferStatus.OUT
        opened = conn.execute(select(temporary_accounts.c.member_id)).scalars().all()
    assert opened == [MAN_55]


def test_months_paid_into_the_temporary_account_leave_the_relationship_in_beijing_and_are_collected_at_retirement(  # noqa: E501
    ledger,
):
    """Shanghai 2025-08..2025-12 at its 60% floor 7,460 (DOMAIN.md §8), 20%: 5 × 895.20 =
    4,476.00 into Shanghai's pooling fund. The pension is paid where the relationship is
    (66号 Art. 6 (1): the hukou place, Beijing), and at retirement 12% of those bases, 5 ×
    7,460 × 12% = 4,476.00, moves from Shanghai's pooling fund to Beijing's (Art. 4 (2))."""
    move(ledger, MAN_55)
    with ledger.unit_of_work() as conn:
        for n in range(5):
            month = Month(2025, 8) + n
            contribute(ledger, conn, MAN_55, PENSION, month, month, month.first_day.replace(day=20))
    assert bal(ledger, "pooling:pension:310000") == -447600
    with ledger.engine.connect() as conn:
        place = pension_place_of(conn, MAN_55, ledger.policy)
    assert place is not None and (place.region, place.rule) == (BEIJING, 1)
    beijing = bal(ledger, "pooling:pension:110000")
    with ledger.unit_of_work() as conn:
        [collected] = collect_at_award(ledger, conn, MAN_55, BEIJING, date(2026, 1, 5))
    assert collected.draft.kind.value == "temporary-collection"
    assert bal(ledger, "pooling:pension:310000") == 0
    assert bal(ledger, "pooling:pension:110000") == beijing - 447600


def test_moving_on_to_a_third_province_opens_another_temporary_account_kept_in_beijing(ledger):
    move(ledger, MAN_55)
    move(ledger, MAN_55, TIANJIN, date(2025, 9, 10))
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(temporary_accounts.c.region, temporary_accounts.c.kept_in).order_by(
                temporary_accounts.c.region
            )
        ).all()
    assert [tuple(r) for r in rows] == [(TIANJIN, BEIJING), (SHANGHAI, BEIJING)]


def test_moving_back_to_the_relationships_province_is_an_ordinary_transfer(ledger):
    move(ledger, MAN_55)
    transfer_id = move(ledger, MAN_55, BEIJING, date(2025, 9, 10))
    with ledger.engine.connect() as conn:
        found = find_transfer(conn, transfer_id)
    assert found is not None and (found.from_region, found.to_region) == (SHANGHAI, BEIJING)


def test_the_transfer_command_says_a_temporary_account_was_opened(
    ledger, empty_database, monkeypatch, capsys
):
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    monkeypatch.delenv("FLEXLEDGER_REDIS_URL", raising=False)
    cli_settings.cache_clear()
    try:
        argv = ["transfer", "--member", MAN_55, "--to", SHANGHAI, "--on", "2025-07-10", "--json"]
        assert main(argv) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["status"] == "temporary-account"
        assert "66号 Art. 5 (2)" in shown["problems"][0]
        before = row_counts(ledger.engine, entries, postings, temporary_accounts)
        assert main(argv) == 0
        assert row_counts(ledger.engine, entries, postings, temporary_accounts) == before
    finally:
        cli_settings.cache_clear()
