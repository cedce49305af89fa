"""Transfers between regions, on SQLite and PostgreSQL alike (国办发〔2009〕66号, DOMAIN.md §5).

Given a member who paid pension months in Beijing, when a transfer to Shanghai is
requested, then the whole personal balance and 12% of each year's base leave Beijing's
pooling fund for transit; accepted, they arrive in Shanghai; returned, they go back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from sqlalchemy import func, select

from ledger.domain import keys
from ledger.domain.clock import FixedClock
from ledger.domain.errors import BadInput, LedgerError, NotEnrolled, TransferStateError
from ledger.domain.identity import check_character
from ledger.domain.money import round_half_up
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.payments import contribute
from ledger.operations.services import Ledger
from ledger.operations.transfers import (
    TransferStatus,
    accept_transfer,
    find_transfer,
    request_transfer,
    return_transfer,
)
from ledger.store.queries import balance, contribution_months
from ledger.store.tables import enrolments, entries, postings
from tests.rows import row_counts

# Members under 40 (women) and 50 (men): their money moves. From those ages a move out of
# the hukou province opens a temporary account instead (66号 Art. 5 (2):
# tests/integration/test_temporary_accounts.py).
MEMBER = "11010519941231002" + check_character("11010519941231002")
OTHER = "11010519850115011" + check_character("11010519850115011")
BEIJING, SHANGHAI = "110000", "310000"
PENSION = Scheme.PENSION
LEFT, ARRIVED = date(2025, 7, 10), date(2025, 7, 20)
END = date(2025, 7, 31)


def counts(engine) -> tuple[int, ...]:
    return row_counts(engine, entries, postings, enrolments)


@pytest.fixture
def ledger(engine) -> Ledger:
    """Paid in Beijing at 60% for all of 2024 and January to June 2025."""
    ledger = Ledger(engine, FixedClock(datetime(2025, 8, 1, 9, tzinfo=UTC)))
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, BEIJING)
        ledger.add_member(conn, OTHER, BEIJING)
        ledger.enroll(conn, MEMBER, PENSION, BEIJING, BaseChoice.of(percent="60"), Month(2024, 1))
        contribute(
            ledger, conn, MEMBER, PENSION, Month(2024, 1), Month(2024, 12), date(2024, 12, 20)
        )
        contribute(ledger, conn, MEMBER, PENSION, Month(2025, 1), Month(2025, 6), date(2025, 6, 20))
    return ledger


def bal(ledger: Ledger, account: str, on: date = END) -> int:
    with ledger.engine.connect() as conn:
        return balance(conn, account, on)


def twelve_percent_of_each_years_base(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(entries.c.period, entries.c.base_fen).where(entries.c.kind == "contribution")
        ).all()
    by_year: dict[str, int] = {}
    for period, base in rows:
        by_year[period[:4]] = by_year.get(period[:4], 0) + base
    return sum(round_half_up(total * Fraction(12, 100)) for total in by_year.values())


def request(ledger: Ledger, to: str = SHANGHAI, on: date = LEFT, member: str = MEMBER) -> str:
    with ledger.unit_of_work() as conn:
        return request_transfer(ledger, conn, member, PENSION, to, on)


def test_a_transfer_out_moves_the_whole_personal_balance_and_twelve_percent_of_each_years_base(
    ledger,
):
    """66号 Art. 4: the personal account moves whole; pooling, 12% of each year's base."""
    personal_fen = -bal(ledger, f"personal:pension:{MEMBER}", LEFT)
    pooling_before = bal(ledger, "pooling:pension:110000", LEFT)
    moved = twelve_percent_of_each_years_base(ledger)
    transfer_id = request(ledger)
    with ledger.engine.connect() as conn:
        found = find_transfer(conn, transfer_id)
    assert found is not None and found.status is TransferStatus.OUT
    assert (found.personal_fen, found.pooling_fen) == (personal_fen, moved)
    assert (found.from_region, found.to_region) == (BEIJING, SHANGHAI)
    assert bal(ledger, f"personal:pension:{MEMBER}") == 0
    assert bal(ledger, "pooling:pension:110000") == pooling_before + moved
    assert bal(ledger, "transit:pension") == -(personal_fen + moved)


def test_an_accepted_transfer_arrives_whole_and_transit_ends_at_zero(ledger):
    personal_before = bal(ledger, f"personal:pension:{MEMBER}", LEFT)
    moved = twelve_percent_of_each_years_base(ledger)
    transfer_id = request(ledger)
    with ledger.unit_of_work() as conn:
        done = accept_transfer(ledger, conn, transfer_id, ARRIVED)
    assert done.status is TransferStatus.IN
    assert bal(ledger, f"personal:pension:{MEMBER}") == personal_before
    assert bal(ledger, "pooling:pension:310000") == -moved
    assert bal(ledger, "transit:pension") == 0
    with ledger.unit_of_work() as conn:
        found = ledger.enrolments(conn, MEMBER, PENSION)
        enrolment = ledger.enrolment_for(found, Month(2025, 7))
    assert enrolment is not None and enrolment.region == SHANGHAI
    assert enrolment.choice == BaseChoice.of(percent="60") and enrolment.method == "monthly"
    assert ledger.enrolment_for(found, Month(2025, 6)).region == BEIJING  # type: ignore[union-attr]


def test_a_returned_transfer_puts_everything_back_in_the_source(ledger):
    personal_before = bal(ledger, f"personal:pension:{MEMBER}", LEFT)
    pooling_before = bal(ledger, "pooling:pension:110000", LEFT)
    transfer_id = request(ledger)
    with ledger.unit_of_work() as conn:
        done = return_transfer(ledger, conn, transfer_id, ARRIVED, "no reply within 15 days")
    assert done.status is TransferStatus.RETURNED
    assert bal(ledger, f"personal:pension:{MEMBER}") == personal_before
    assert bal(ledger, "pooling:pension:110000") == pooling_before
    assert bal(ledger, "transit:pension") == 0


def test_every_step_run_twice_writes_nothing_the_second_time(ledger, engine):
    transfer_id = request(ledger)
    before = counts(engine)
    assert request(ledger) == transfer_id
    assert counts(engine) == before
    with ledger.unit_of_work() as conn:
        accept_transfer(ledger, conn, transfer_id, ARRIVED)
    after = counts(engine)
    with ledger.unit_of_work() as conn:
        again = accept_transfer(ledger, conn, transfer_id, ARRIVED)
    assert again.status is TransferStatus.IN
    assert counts(engine) == after


def test_a_returned_transfer_cannot_be_accepted_naming_its_state(ledger, engine):
    transfer_id = request(ledger)
    with ledger.unit_of_work() as conn:
        return_transfer(ledger, conn, transfer_id, ARRIVED, "rejected: records incomplete")
    before = counts(engine)
    with pytest.raises(TransferStateError) as caught, ledger.unit_of_work() as conn:
        accept_transfer(ledger, conn, transfer_id, ARRIVED)
    assert "status is returned" in caught.value.rule
    with ledger.unit_of_work() as conn:
        return_transfer(ledger, conn, transfer_id, ARRIVED, "asked again")
    assert counts(engine) == before


def test_an_accepted_transfer_cannot_be_returned_naming_its_state(ledger, engine):
    transfer_id = request(ledger)
    with ledger.unit_of_work() as conn:
        accept_transfer(ledger, conn, transfer_id, ARRIVED)
    before = counts(engine)
    with pytest.raises(TransferStateError) as caught, ledger.unit_of_work() as conn:
        return_transfer(ledger, conn, transfer_id, ARRIVED, "too late")
    assert "status is in" in caught.value.rule
    assert counts(engine) == before


def test_a_second_transfer_while_one_is_in_transit_is_refused(ledger):
    request(ledger)
    with pytest.raises(TransferStateError) as caught:
        request(ledger, to="120000")
    assert "still in transit" in caught.value.rule


def test_transferring_to_the_same_region_or_without_an_enrolment_is_refused(ledger, engine):
    before = counts(engine)
    with pytest.raises(BadInput) as same:
        request(ledger, to=BEIJING)
    assert same.value.field == "to"
    with pytest.raises(NotEnrolled):
        request(ledger, member=OTHER)
    with pytest.raises(BadInput) as unknown, ledger.unit_of_work() as conn:
        accept_transfer(ledger, conn, "no-such-transfer", ARRIVED)
    assert unknown.value.field == "transfer"
    assert counts(engine) == before


def test_a_transfer_id_says_who_moves_what_where_and_when():

    transfer_id = keys.transfer_id(MEMBER, PENSION, SHANGHAI, LEFT)
    assert transfer_id == f"{MEMBER}-pension-310000-20250710"
    assert keys.transfer_parts(transfer_id) == (MEMBER, PENSION, SHANGHAI, LEFT)
    with pytest.raises(BadInput):
        keys.transfer_parts("not-an-id")


def test_contribution_months_follow_the_member_through_an_accepted_transfer_only(ledger):
    """DOMAIN.md §5: the years add up where the member goes; the 10-year rule still counts
    them where they were paid."""

    def months() -> list[tuple[str, int, str]]:
        with ledger.engine.connect() as conn:
            return [(r.region, r.months, r.held_in) for r in contribution_months(conn, MEMBER)]

    assert months() == [(BEIJING, 18, BEIJING)]
    returned = request(ledger, on=LEFT)
    assert months() == [(BEIJING, 18, BEIJING)]  # in transit: not moved yet
    with ledger.unit_of_work() as conn:
        return_transfer(ledger, conn, returned, ARRIVED, "rejected")
    assert months() == [(BEIJING, 18, BEIJING)]

    moved = request(ledger, on=date(2025, 7, 21))
    with ledger.unit_of_work() as conn:
        accept_transfer(ledger, conn, moved, date(2025, 7, 25))
        contribute(ledger, conn, MEMBER, PENSION, Month(2025, 8), Month(2025, 8), date(2025, 8, 1))
    assert months() == [(BEIJING, 18, SHANGHAI), (SHANGHAI, 1, SHANGHAI)]


def _citizen(serial: int) -> str:
    base = f"110105199001010{serial:02d}"
    return base + check_character(base)


def _moved_twice(ledger: Ledger, conn, member: str) -> None:
    """Beijing 2023-01..2024-02, Shanghai 2024-04..08, Beijing again from 2024-10: the
    months before the first move left with it (``moved_before``)."""
    ledger.add_member(conn, member, BEIJING)
    ledger.enroll(conn, member, PENSION, BEIJING, BaseChoice.of(percent="80"), Month(2023, 1))
    contribute(ledger, conn, member, PENSION, Month(2023, 1), Month(2023, 12), date(2023, 12, 20))
    contribute(ledger, conn, member, PENSION, Month(2024, 1), Month(2024, 2), date(2024, 2, 20))
    for to, left, back, first, last in (
        (SHANGHAI, date(2024, 3, 5), date(2024, 3, 10), Month(2024, 4), Month(2024, 8)),
        (BEIJING, date(2024, 9, 5), date(2024, 9, 10), Month(2024, 10), Month(2024, 12)),
    ):
        moved = request_transfer(ledger, conn, member, PENSION, to, left)
        accept_transfer(ledger, conn, moved, back)
        for month in first.until(last):  # each in its month: Shanghai takes no other way
            contribute(
                ledger, conn, member, PENSION, month, month, date(month.year, month.month, 20)
            )
    contribute(ledger, conn, member, PENSION, Month(2025, 1), Month(2025, 6), date(2025, 6, 20))


def _written(ledger: Ledger, conn, since: int) -> list[tuple]:
    from ledger.store.tables import accounts

    rows = conn.execute(
        select(
            entries.c.id,
            entries.c.idempotency_key,
            entries.c.reason,
            entries.c.region,
            entries.c.hash,
        )
        .where(entries.c.id > since)
        .order_by(entries.c.id)
    ).all()
    legs = conn.execute(
        select(postings.c.entry_id, accounts.c.name, postings.c.amount_fen)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.entry_id > since)
        .order_by(postings.c.id)
    ).all()
    return [(*r, [(n, a) for e, n, a in legs if e == r.id]) for r in rows]


def _enrolled_since(conn, since: int) -> list[tuple]:
    return [
        tuple(r)
        for r in conn.execute(
            select(enrolments.c.member_id, enrolments.c.region, enrolments.c.from_month)
            .where(enrolments.c.id > since)
            .order_by(enrolments.c.id)
        )
    ]


def _since(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.max(entries.c.id))).scalar_one(),
            conn.execute(select(func.max(enrolments.c.id))).scalar_one(),
        )


def test_a_days_requests_in_one_batch_write_the_movable_and_name_why_the_rest_are_refused(
    ledger, engine
):
    """``transfers.request`` on a day's batch: the transfers that can move are written in
    the batch's order; each other one is refused with the first rule it fails, the very
    refusal it gets requested alone (a batch of one)."""
    from ledger.domain.errors import UnknownMember
    from ledger.operations import transfers

    medical = Scheme.MEDICAL
    moved, in_transit, unknown = _citizen(1), _citizen(2), _citizen(3)
    with ledger.unit_of_work() as conn:
        _moved_twice(ledger, conn, moved)
        ledger.enroll(conn, MEMBER, medical, BEIJING, BaseChoice.of(percent="60"), Month(2025, 1))
        contribute(ledger, conn, MEMBER, medical, Month(2025, 1), Month(2025, 6), date(2025, 6, 20))
        ledger.add_member(conn, in_transit, BEIJING)
        ledger.enroll(
            conn, in_transit, PENSION, BEIJING, BaseChoice.of(percent="100"), Month(2025, 1)
        )
        contribute(
            ledger, conn, in_transit, PENSION, Month(2025, 1), Month(2025, 6), date(2025, 6, 20)
        )
        request_transfer(ledger, conn, in_transit, PENSION, "120000", date(2025, 7, 1))
        ledger.enroll(conn, OTHER, PENSION, BEIJING, BaseChoice.of(percent="60"), Month(2025, 1))
    ids = [
        keys.transfer_id(MEMBER, PENSION, SHANGHAI, LEFT),
        keys.transfer_id(unknown, PENSION, SHANGHAI, LEFT),  # not registered
        keys.transfer_id(moved, PENSION, SHANGHAI, LEFT),
        keys.transfer_id(MEMBER, medical, SHANGHAI, LEFT),  # empty account, 6 months move
        keys.transfer_id(in_transit, PENSION, SHANGHAI, LEFT),  # one still in transit
        keys.transfer_id(OTHER, PENSION, BEIJING, LEFT),  # already enrolled there
        keys.transfer_id(OTHER, PENSION, SHANGHAI, LEFT),  # enrolled, nothing paid
    ]
    since, _ = _since(engine)
    alone = {}
    for tid in ids[1:2] + ids[4:]:
        with engine.connect() as conn, conn.begin() as tx:
            member, scheme, to, _ = keys.transfer_parts(tid)
            with pytest.raises(LedgerError) as raised:
                request_transfer(ledger, conn, member, scheme, to, LEFT)
            alone[tid] = f"{type(raised.value).__name__}: {raised.value}"
            tx.rollback()
        ledger.recorder.rolled_back()
    with ledger.unit_of_work() as conn:
        decisions = transfers.request(ledger, conn, ids, LEFT)
        written = _written(ledger, conn, since)
    drafted = [d.transfer_id for d in decisions if d.draft is not None]
    refused = {d.transfer_id: d.refused for d in decisions if d.refused is not None}
    assert drafted == [ids[0], ids[2], ids[3]]
    assert {tid: f"{type(e).__name__}: {e}" for tid, e in refused.items()} == alone
    assert isinstance(refused[ids[1]], UnknownMember)
    assert isinstance(refused[ids[4]], TransferStateError)
    assert refused[ids[5]].field == "to" and "nothing to transfer" in str(refused[ids[6]])
    assert [w[1] for w in written] == [f"transfer-out:{tid}" for tid in drafted]
    assert [(n, a) for n, a in written[2][-1]] == [
        (f"personal:medical:{MEMBER}", 0),
        ("pooling:medical:110000", 0),
        ("transit:medical", 0),
    ]  # the medical account is empty: the months move, no money (DOMAIN.md §5)
    pooling_moved = dict(written[1][-1])["pooling:pension:110000"]  # debited
    with engine.connect() as conn:
        since_moved_back = conn.execute(
            select(entries.c.period, entries.c.base_fen).where(
                entries.c.member_id == moved,
                entries.c.region == BEIJING,
                entries.c.period >= "2024-10",
                entries.c.kind == "contribution",
            )
        ).all()
    by_year: dict[str, int] = {}
    for period, base in since_moved_back:  # 12% of each year's base, back in Beijing only
        by_year[period[:4]] = by_year.get(period[:4], 0) + int(base)
    assert sorted(by_year) == ["2024", "2025"]
    assert pooling_moved == sum(round_half_up(t * Fraction(12, 100)) for t in by_year.values())
    before = counts(engine)
    with ledger.unit_of_work() as conn:  # the same batch again: nothing written
        again = transfers.request(ledger, conn, ids, LEFT)
    assert counts(engine) == before
    assert [d.done for d in again] == [True, False, True, True, False, False, False]


def test_a_batch_refuses_the_second_request_of_a_member_moving_twice_in_one_scheme(ledger):
    from ledger.operations import transfers

    ids = [keys.transfer_id(MEMBER, PENSION, to, LEFT) for to in (SHANGHAI, "120000")]
    with ledger.unit_of_work() as conn:
        first, second = transfers.request(ledger, conn, ids, LEFT)
    assert first.draft is not None
    assert isinstance(second.refused, TransferStateError) and ids[0] in str(second.refused)
    with ledger.engine.connect() as conn:
        assert find_transfer(conn, ids[0]).status is TransferStatus.OUT
        assert find_transfer(conn, ids[1]) is None


def test_a_days_accepts_in_one_batch_enrol_the_accepted_and_return_what_the_destination_refuses(
    ledger, engine
):
    """``transfers.settle`` (the worker's accept step): the transfers in transit are
    accepted and their members enrolled at the destination; one whose base Shanghai
    refuses (7,200 yuan: inside Beijing's 2025 range, below Shanghai's floor, DOMAIN.md
    §8) goes back with the refusal as its reason; one returned or never requested is
    refused naming why; one accepted before is already done."""
    from ledger.operations import transfers

    low, returned, accepted = _citizen(4), _citizen(5), _citizen(6)
    with ledger.unit_of_work() as conn:
        for member, choice in (
            (low, BaseChoice(amount_fen=720_000)),
            (returned, BaseChoice.of(percent="100")),
            (accepted, BaseChoice.of(percent="300")),
        ):
            ledger.add_member(conn, member, BEIJING)
            ledger.enroll(conn, member, PENSION, BEIJING, choice, Month(2025, 1))
            contribute(
                ledger, conn, member, PENSION, Month(2025, 1), Month(2025, 6), date(2025, 6, 20)
            )
        ids = [
            request_transfer(ledger, conn, m, PENSION, SHANGHAI, LEFT)
            for m in (MEMBER, low, returned, accepted)
        ]
        return_transfer(ledger, conn, ids[2], LEFT, "records incomplete")
        accept_transfer(ledger, conn, ids[3], LEFT)
    ids.append(keys.transfer_id(OTHER, PENSION, SHANGHAI, LEFT))  # never requested
    since, since_enrolled = _since(engine)
    with ledger.unit_of_work() as conn:
        decisions = transfers.settle(ledger, conn, ids, ARRIVED)
        written = _written(ledger, conn, since)
        enrolled = _enrolled_since(conn, since_enrolled)
    assert [w[1] for w in written] == [f"transfer-in:{ids[0]}", f"transfer-return:{ids[1]}"]
    assert "rejected by the destination" in written[1][2]
    assert "7460" in written[1][2].replace(",", "")  # Shanghai's 2025 floor, named
    assert enrolled == [(MEMBER, SHANGHAI, "2025-07")]
    assert [d.transfer.status if d.transfer else None for d in decisions] == [
        TransferStatus.IN,
        TransferStatus.RETURNED,
        None,
        TransferStatus.IN,
        None,
    ]
    assert isinstance(decisions[2].refused, TransferStateError)
    assert decisions[3].done
    assert decisions[4].refused is not None and decisions[4].refused.field == "transfer"


def test_an_empty_medical_account_still_transfers_its_months(ledger, engine):
    """DOMAIN.md §5 (医保办发〔2021〕43号): the medical years are added up at the new place
    whatever the balance. Beijing's flexible-employee medical share is a fixed sum with
    personal rate 0 (DOMAIN.md §3), so the personal account is empty: six months paid
    (2025-01 to 06) still leave for Shanghai and, accepted, are held there."""
    medical = Scheme.MEDICAL
    with ledger.unit_of_work() as conn:
        ledger.enroll(conn, MEMBER, medical, BEIJING, BaseChoice.of(percent="60"), Month(2025, 1))
        contribute(ledger, conn, MEMBER, medical, Month(2025, 1), Month(2025, 6), date(2025, 6, 20))
    tid = keys.transfer_id(MEMBER, medical, SHANGHAI, LEFT)
    since, _ = _since(engine)
    with ledger.unit_of_work() as conn:
        assert request_transfer(ledger, conn, MEMBER, medical, SHANGHAI, LEFT) == tid
        accept_transfer(ledger, conn, tid, ARRIVED)
        found = find_transfer(conn, tid)
        assert (found.status, found.personal_fen, found.pooling_fen) == (TransferStatus.IN, 0, 0)
        held = [
            (r.scheme, r.region, r.months, r.held_in)
            for r in contribution_months(conn, MEMBER)
            if r.scheme == "medical"
        ]
        assert held == [("medical", BEIJING, 6, SHANGHAI)]
        written = _written(ledger, conn, since)
    assert [w[1] for w in written] == [f"transfer-out:{tid}", f"transfer-in:{tid}"]
    assert "6 months paid there move" in written[0][2]


def test_a_medical_transfer_with_no_months_and_no_money_is_still_refused(ledger):
    """Nothing paid at the source: no balance and no months, so nothing moves."""
    medical = Scheme.MEDICAL
    with ledger.unit_of_work() as conn:
        ledger.enroll(conn, OTHER, medical, BEIJING, BaseChoice.of(percent="60"), Month(2025, 1))
    with pytest.raises(BadInput, match="nothing to transfer"), ledger.unit_of_work() as conn:
        request_transfer(ledger, conn, OTHER, medical, SHANGHAI, LEFT)


def test_the_pension_is_paid_in_the_hukou_place_before_and_after_a_short_stay_elsewhere(ledger):
    """DOMAIN.md §5, 国办发〔2009〕66号 Art. 6: hukou Beijing (ID 110105...), 18 months paid
    in Beijing → clause (1), the hukou place holding the relationship. Moved to Shanghai
    (accepted, nothing paid there yet): the relationship is in Shanghai with 0 months and
    no place has 120 months → clause (4), back to the hukou place 110105."""
    from ledger.store.queries import pension_place_of

    with ledger.engine.connect() as conn:
        before = pension_place_of(conn, MEMBER, ledger.policy)
    assert (before.region, before.rule) == (BEIJING, 1)
    moved = request(ledger)
    with ledger.unit_of_work() as conn:
        accept_transfer(ledger, conn, moved, ARRIVED)
    with ledger.engine.connect() as conn:
        after = pension_place_of(conn, MEMBER, ledger.policy)
        nothing = pension_place_of(conn, OTHER, ledger.policy)
    assert (after.region, after.rule) == ("110105", 4)
    assert "120 months" in after.reason
    assert nothing is None  # OTHER paid no pension month
