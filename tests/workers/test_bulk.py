"""The batch actors do a whole batch in one pass, and say so in the database's own terms.

Given a batch of members, when an actor runs it, then it reads and appends with a number
of SQL statements that does not grow with the batch (a few ``IN`` queries and one insert;
only the chunking of long ``IN`` lists and inserts adds one per 500 rows or so), where a
query per member would add hundreds; a message that carries the story's time records its
entries at that time; members paying in several schemes are paid in one message; closing
a year records every enrolled month left unpaid, whatever the method; many transfers go
in one message and the accepts follow in one more; a payments batch whose entries are
new appends them without a SAVEPOINT, and one with a month recorded before refuses that
member alone, in the same transaction. Refusals inside a batch are covered in
``test_delivery`` (one member refused, the rest commit).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import event, func, insert, select

from ledger.config import Settings
from ledger.domain import keys
from ledger.domain.clock import SystemClock
from ledger.domain.period import Month
from ledger.domain.schemes import Scheme
from ledger.operations.payments import contribute
from ledger.store.tables import enrolments, entries
from ledger.store.verify import verify
from ledger.store.worker_tables import processed_messages
from workers import actors, runtime
from workers.outbox import message_id

from .conftest import BEIJING, enrol, ledger_for, mark_simulation

PENSION = Scheme.PENSION
by_kind = select(entries.c.kind, func.count()).group_by(entries.c.kind)


@pytest.fixture
def rt(engine, empty_database) -> Iterator[runtime.Runtime]:
    yield runtime.configure(
        Settings(database_url=empty_database.url), engine=engine, clock=SystemClock()
    )
    runtime.configure(Settings())


@contextmanager
def statements(engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _pay(members: list[str], key: str, at_iso: str | None = None) -> None:
    actors.post_payments_batch(
        message_id(key, 0),
        key,
        [[m, "pension"] for m in members],
        "2025-07",
        "2025-09",
        "2025-10-10",
        at_iso,
    )


def _contributions(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(entries).where(entries.c.kind == "contribution")
        ).scalar_one()


def test_a_payments_batch_of_400_members_takes_a_few_more_statements_than_of_4_not_400(engine, rt):
    small, large = enrol(engine, 4), enrol(engine, 400, start=10)
    with statements(engine) as for_small:
        _pay(small, "test:small")
    with statements(engine) as for_large:
        _pay(large, "test:large")
    assert _contributions(engine) == 3 * 404
    assert len(for_large) - len(for_small) < 400 / 20


def test_bank_and_close_year_batches_of_300_take_a_few_more_statements_than_of_3_not_300(
    engine, rt
):
    small = enrol(engine, 3, method="bank", from_month="2025-01")
    large = enrol(engine, 300, start=10, method="bank", from_month="2025-01")
    counts = []
    for members, tag in ((small, "small"), (large, "large")):
        with statements(engine) as seen:
            actors.bank_deduction_batch(
                message_id(f"bank:{tag}", 0),
                f"bank:{tag}",
                "pension",
                2025,
                members,
                "2025-06-25",
                7,
                "0.5",
            )
            actors.close_year_batch(
                message_id(f"close:{tag}", 0),
                f"close:{tag}",
                "pension",
                2025,
                members,
                "2026-01-02",
            )
        counts.append(len(seen))
    assert counts[1] - counts[0] < 300 / 20
    with engine.connect() as conn:
        kinds = dict(conn.execute(by_kind).all())
    # Half the members' banks refuse (rate 0.5): their 12 months are gaps, the others'
    # six months to June were paid and July to December are gaps.
    assert kinds["contribution"] % 6 == 0 and kinds["contribution"] > 0
    assert kinds["contribution"] + kinds["arrears"] == 12 * 303


def test_a_fees_batch_of_200_takes_a_few_more_statements_than_of_2_not_200(engine, rt):
    small = enrol(engine, 2, method="agency", agency="hr-co")
    large = enrol(engine, 200, start=10, method="agency", agency="hr-co")
    counts = []
    for members, tag in ((small, "small"), (large, "large")):
        with statements(engine) as seen:
            pairs = [[m, "pension"] for m in members]
            actors.affiliate_fees_batch(
                message_id(f"fees:{tag}", 0), f"fees:{tag}", "2025-10", pairs, "2025-10-20"
            )
        counts.append(len(seen))
    assert counts[1] - counts[0] < 200 / 20
    with engine.connect() as conn:
        kinds = dict(conn.execute(by_kind).all())
    assert kinds == {"contribution": 202, "fee": 202}


def _savepoints(seen: list[str]) -> list[str]:
    return [s for s in seen if s.upper().startswith("SAVEPOINT")]


def test_a_batch_that_meets_no_refusal_writes_without_a_savepoint(engine, rt):
    """On SQLite a SAVEPOINT has every page a write first touches copied to a journal;
    a batch whose facts show its entries new appends them with none
    (``Recorder.append``)."""
    members = enrol(engine, 5)
    with statements(engine) as seen:
        _pay(members, "test:clean")
    assert _contributions(engine) == 5 * 3
    assert _savepoints(seen) == []


def test_a_batch_with_a_month_recorded_before_refuses_that_member_and_pays_the_rest(engine, rt):
    """The batch's recorded keys are read once its drafts show them, and the batch is
    decided with them: the member paid before is refused under its reason, the others
    are paid in the same transaction, nothing is rolled back or redone."""
    members = enrol(engine, 3)
    # The middle member's September was paid on another day: same key, other content.
    actors.post_payments_batch(
        message_id("test:before", 0),
        "test:before",
        [[members[1], "pension"]],
        "2025-09",
        "2025-09",
        "2025-10-09",
    )
    rollbacks: list[object] = []

    def rolled_back(conn: object) -> None:
        rollbacks.append(conn)

    event.listen(engine, "rollback", rolled_back)
    try:
        _pay(members, "test:mixed")  # July to September, the first member's rows first
    finally:
        event.remove(engine, "rollback", rolled_back)
    assert rollbacks == []  # the message was not redone
    with engine.connect() as conn:
        outcomes = [
            json.loads(o)
            for o in conn.execute(
                select(processed_messages.c.outcome).order_by(processed_messages.c.processed_at)
            ).scalars()
        ]
        paid = conn.execute(
            select(entries.c.member_id, func.count())
            .where(entries.c.kind == "contribution")
            .group_by(entries.c.member_id)
            .order_by(entries.c.member_id)
        ).all()
        report = verify(conn)
    assert outcomes[-1]["counts"] == {"already-paid": 1, "posted": 2}
    assert list(outcomes[-1]["problems"]) == []
    assert [tuple(r) for r in paid] == [(members[0], 3), (members[1], 1), (members[2], 3)]
    assert report.ok, report.problems
    assert report.entries == 7


def test_a_message_with_the_storys_time_records_its_entries_then(engine, rt):
    first, second = enrol(engine, 1), enrol(engine, 1, start=5)
    mark_simulation(engine)
    _pay(first, "test:story", "2025-10-10T12:00:00+00:00")
    before = datetime.now(UTC)
    _pay(second, "test:now")
    with engine.connect() as conn:
        times = dict(conn.execute(select(entries.c.member_id, entries.c.recorded_at)).all())
    story = times[first[0]].replace(tzinfo=UTC)
    assert story == datetime(2025, 10, 10, 12, tzinfo=UTC)
    assert times[second[0]].replace(tzinfo=UTC) >= before.replace(microsecond=0)
    assert ledger_for(engine).clock.now() >= before  # the runtime's clock is untouched


def test_a_ledger_that_is_no_simulations_refuses_a_message_with_its_own_time(engine, rt):
    """A forged future time on a production ledger would make every real append after it
    fail as "clock went backwards": the message is refused, naming the field, and writes
    nothing (not even its processed row)."""
    from ledger.domain.errors import BadInput
    from tests.rows import row_counts

    members = enrol(engine, 2)
    before = row_counts(engine, entries, processed_messages)
    with pytest.raises(BadInput, match=r"at_iso.*only on a simulation's ledger"):
        _pay(members, "test:forged", "2099-01-01T00:00:00+00:00")
    assert row_counts(engine, entries, processed_messages) == before
    _pay(members, "test:real")  # the same payments without a time of their own
    assert _contributions(engine) == 6


def test_a_payments_batch_pays_each_member_in_each_scheme_it_names(engine, rt):
    members = enrol(engine, 3)
    with engine.begin() as conn:
        conn.execute(
            insert(enrolments),
            [
                {
                    "member_id": m,
                    "scheme": "medical",
                    "region": BEIJING,
                    "base_percent": "60",
                    "method": "monthly",
                    "from_month": "2025-07",
                    "recorded_at": datetime.now(UTC),
                }
                for m in members[:2]
            ],
        )
    pairs = [[m, s] for m in members for s in ("pension", "medical")]
    key = "test:schemes"
    actors.post_payments_batch(message_id(key, 0), key, pairs, "2025-07", "2025-07", "2025-07-15")
    with engine.connect() as conn:
        paid = set(conn.execute(select(entries.c.member_id, entries.c.scheme)).all())
        outcome = json.loads(conn.execute(select(processed_messages.c.outcome)).scalar_one())
    assert paid == {(m, "pension") for m in members} | {(m, "medical") for m in members[:2]}
    assert outcome["counts"] == {"posted": 5, "refused": 1}  # the third has no medical
    assert list(outcome["problems"]) == [f"{members[2]}/medical"]


def test_closing_a_year_records_the_unpaid_months_of_members_paying_monthly_too(engine, rt):
    members = enrol(engine, 2, from_month="2025-01")
    ledger = ledger_for(engine)
    with ledger.unit_of_work() as conn:
        contribute(
            ledger, conn, members[0], PENSION, Month(2025, 1), Month(2025, 12), date(2025, 12, 20)
        )
        contribute(
            ledger, conn, members[1], PENSION, Month(2025, 1), Month(2025, 9), date(2025, 12, 20)
        )
    actors.close_year_batch(message_id("close", 0), "close", "pension", 2025, members, "2026-01-02")
    with engine.connect() as conn:
        gaps = conn.execute(
            select(entries.c.member_id, entries.c.period).where(entries.c.kind == "arrears")
        ).all()
    assert sorted(gaps) == [
        (members[1], "2025-10"),
        (members[1], "2025-11"),
        (members[1], "2025-12"),
    ]


def test_a_days_transfers_go_in_one_message_and_their_accepts_in_one_more(engine, rt, broker):
    from ledger.operations.transfers import find_transfer

    members = enrol(engine, 3, from_month="2025-01")
    ledger = ledger_for(engine)
    with ledger.unit_of_work() as conn:
        for m in members[:2]:  # the third has paid nothing: nothing to move
            contribute(ledger, conn, m, PENSION, Month(2025, 1), Month(2025, 6), date(2025, 6, 20))
    on = date(2025, 7, 1)
    ids = [keys.transfer_id(m, PENSION, "310000", on) for m in members]
    actors.transfers_batch(message_id("moves", 0), "moves", "request", ids, on.isoformat())
    with engine.connect() as conn:
        chained = conn.execute(select(processed_messages)).all()
        from ledger.store.worker_tables import outbox

        follow = conn.execute(select(outbox.c.actor_name, outbox.c.args)).all()
    assert len(chained) == 1 and len(follow) == 1
    assert json.loads(follow[0].args)["transfer_ids"] == ids[:2]
    actors.transfers_batch(
        message_id("moves", "accept"), "moves", "accept", ids[:2], on.isoformat()
    )
    with engine.connect() as conn:
        states = [find_transfer(conn, t) for t in ids]
    assert [s.status.value for s in states[:2]] == ["in", "in"]
    assert states[2] is None


def test_a_days_transfer_requests_for_100_members_take_a_few_more_statements_than_for_2(engine, rt):

    small = enrol(engine, 2, from_month="2025-01")
    large = enrol(engine, 100, start=10, from_month="2025-01")
    _pay(small + large, "test:paid")
    on = date(2025, 10, 15)
    counts = []
    for members, tag in ((small, "small"), (large, "large")):
        ids = [keys.transfer_id(m, PENSION, "310000", on) for m in members]
        with statements(engine) as seen:
            actors.transfers_batch(
                message_id(f"moves:{tag}", 0), f"moves:{tag}", "request", ids, on.isoformat()
            )
        counts.append(len(seen))
    assert counts[1] - counts[0] < 100 / 10
    with engine.connect() as conn:
        kinds = dict(conn.execute(by_kind).all())
    assert kinds["transfer-out"] == 102


def test_a_simulations_bank_is_the_scenarios_without_timeouts(rt):
    bank = rt.bank(7, "0.25")
    assert bank.failure_rate == Decimal("0.25") and bank.timeout_rate == 0
    assert rt.bank(7, "0.25") is bank  # one per process: it remembers settled references
    assert rt.bank(7) is not bank  # the settings' bank, with timeouts


def test_a_bank_batch_retried_after_a_lost_commit_charges_once_and_owes_back_a_month_paid_since(
    engine, rt, monkeypatch
):
    """The worker's bank batch charges three members January to June, then its commit is
    lost (the database went away before COMMIT: nothing written, the message is retried).
    Meanwhile one member pays January at the counter. The retry asks the bank under the
    same references: each member is charged once, the months are posted once each, and
    the January money the bank took from that member is recorded as owed back."""
    from sqlalchemy.exc import OperationalError

    from ledger.operations import bank as bank_operations
    from ledger.operations import withholding
    from ledger.store.queries import balance

    members = enrol(engine, 3, method="bank", from_month="2025-01")
    key, today = "bank:lost-commit", date(2025, 6, 25)
    arguments = (message_id(key, 0), key, "pension", 2025, members, today.isoformat(), 7, "0")

    def commit_lost(*_args: object) -> None:
        raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(withholding, "record_settlements", commit_lost)
    with pytest.raises(OperationalError):
        actors.bank_deduction_batch(*arguments)
    monkeypatch.undo()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == 0

    ledger = ledger_for(engine)
    with ledger.unit_of_work() as conn:
        [january] = contribute(ledger, conn, members[0], PENSION, Month(2025, 1), None, today)
    actors.bank_deduction_batch(*arguments)

    bank = rt.bank(7, "0")
    references = [bank_operations.reference_for(m, PENSION, 2025, today) for m in members]
    assert len(bank.settled) == len(members)  # one charge per member, none for a new plan
    assert sorted(bank.settled) == sorted(references)
    assert all(bank.attempts[r] == 2 for r in references)  # asked again, not charged again
    with engine.connect() as conn:
        kinds = dict(conn.execute(by_kind).all())
        owed_back = -balance(conn, f"refunds:pension:{members[0]}", today)
    assert kinds == {"contribution": 6 * 3, "overpayment": 1}
    legs = january.draft.postings
    assert owed_back == sum(p.amount_fen for p in legs if p.account.startswith("collection:")) > 0
