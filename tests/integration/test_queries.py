"""The auditor's queries on two time axes, with and without checkpoints, on both backends.

Given entries recorded in order by a moving clock, when balances are asked as of a date and
as known at a time, then a back-dated entry shows from its date on and only once recorded,
checkpoints never change an answer, and the trial balance sums to zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, insert

from ledger.domain.clock import FixedClock
from ledger.domain.errors import CheckpointBeyondHead, UnknownAccount, UnknownMember
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.store.checkpoints import make_checkpoints
from ledger.store.queries import (
    affiliated_arrangements,
    balance,
    contribution_months,
    pooling_by_region,
    statement,
    trial_balance,
)
from ledger.store.recorder import Recorder
from ledger.store.tables import enrolments, members
from ledger.store.totals import balances_of

MEMBER = "11010519491231002X"
OTHER = "110105196501150119"
COLLECTION = "collection:pension:110000"
POOLING = "pooling:pension:110000"
PERSONAL = f"personal:pension:{MEMBER}"
START = datetime(2025, 1, 1, 9, tzinfo=UTC)
BEIJING_TIME = timezone(timedelta(hours=8))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def contribution(
    n: int, effective: date, member: str = MEMBER, total: int = 143_240, kind=EntryKind.CONTRIBUTION
) -> EntryDraft:
    """A month's contribution: collection debited, personal (40%) and pooling credited."""
    personal = total * 2 // 5
    return EntryDraft.build(
        kind=kind,
        effective_date=effective,
        idempotency_key=f"{kind.value}:{member}:{n}",
        period=f"{effective:%Y-%m}" if kind is EntryKind.CONTRIBUTION else None,
        member_id=member,
        scheme="pension",
        region="110000",
        postings=[
            (COLLECTION, total),
            (f"personal:pension:{member}", -personal),
            (POOLING, personal - total),
        ],
    )


def record(conn: Connection, recorder: Recorder, clock: FixedClock, when: datetime, *drafts):
    clock.advance_to(when)
    return recorder.append(conn, list(drafts))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def recorder(clock: FixedClock) -> Recorder:
    return Recorder(clock)


def test_a_back_dated_entry_changes_the_balances_after_its_date_and_not_before(
    engine, clock, recorder
):
    # given January and March paid on time
    with engine.begin() as conn:
        record(conn, recorder, clock, at(2025, 1, 20), contribution(1, date(2025, 1, 15)))
        record(conn, recorder, clock, at(2025, 3, 20), contribution(3, date(2025, 3, 15)))
    # when February is recorded late, in April, effective in February
    with engine.begin() as conn:
        record(conn, recorder, clock, at(2025, 4, 2), contribution(2, date(2025, 2, 15)))
    # then the balance as of January is unchanged, and from February on it includes it
    with engine.connect() as conn:
        assert balance(conn, POOLING, date(2025, 2, 14)) == -85_944
        assert balance(conn, POOLING, date(2025, 2, 15)) == -2 * 85_944
        assert balance(conn, POOLING, date(2025, 3, 31)) == -3 * 85_944
        assert balance(conn, COLLECTION, date(2025, 12, 31)) == 3 * 143_240


def test_the_view_known_before_an_entry_was_recorded_does_not_show_it(engine, clock, recorder):
    # given January recorded on 20 January and February recorded late, on 2 April
    with engine.begin() as conn:
        record(conn, recorder, clock, at(2025, 1, 20), contribution(1, date(2025, 1, 15)))
        record(conn, recorder, clock, at(2025, 4, 2), contribution(2, date(2025, 2, 15)))
    with engine.connect() as conn:
        # when asked as of March, as known on 1 April, then February is not there yet
        assert balance(conn, PERSONAL, date(2025, 3, 31), at(2025, 4, 1)) == -57_296
        # and as known a second after it was recorded, it is
        assert balance(conn, PERSONAL, date(2025, 3, 31), at(2025, 4, 2, 0, 0, 1)) == -114_592
        # and before anything was recorded, nothing is known
        assert balance(conn, PERSONAL, date(2025, 3, 31), at(2024, 1, 1)) == 0
        # and a known-at time in another zone means the same instant (08:00 in Beijing)
        just_before = datetime(2025, 4, 2, 7, 59, tzinfo=BEIJING_TIME)
        assert balance(conn, PERSONAL, date(2025, 3, 31), just_before) == -57_296
        just_after = datetime(2025, 4, 2, 8, 0, tzinfo=BEIJING_TIME)
        assert balance(conn, PERSONAL, date(2025, 3, 31), just_after) == -114_592


def test_an_unknown_account_is_refused_naming_it(engine):
    with engine.connect() as conn, pytest.raises(UnknownAccount) as refused:
        balance(conn, "pooling:pension:999999", date(2025, 1, 1))
    assert refused.value.field == "account"
    assert "pooling:pension:999999" in refused.value.rule


def test_checkpoints_are_made_for_busy_accounts_once_per_date_and_entry(engine, clock, recorder):
    # given two members: collection and pooling have 3 postings, each personal account fewer
    with engine.begin() as conn:
        record(
            conn,
            recorder,
            clock,
            at(2025, 2, 1),
            contribution(1, date(2025, 1, 15)),
            contribution(2, date(2025, 1, 16), OTHER),
            contribution(3, date(2025, 2, 15)),
        )
    with engine.begin() as conn:
        # when checkpoints are made for accounts with at least 3 postings, then 2 are made
        assert make_checkpoints(conn, date(2025, 3, 1), clock, min_postings=3) == 2
        # and making them again for the same date and entry writes nothing
        assert make_checkpoints(conn, date(2025, 3, 1), clock, min_postings=3) == 0
        # and a checkpoint cannot reach past the last entry
        with pytest.raises(CheckpointBeyondHead):
            make_checkpoints(conn, date(2025, 3, 1), clock, through_entry_id=4)
    with engine.connect() as conn:
        assert balance(conn, COLLECTION, date(2025, 3, 1)) == 3 * 143_240


ACCOUNTS = (COLLECTION, POOLING, PERSONAL, f"personal:pension:{OTHER}", "pooling:pension:310000")
DAY0 = date(2025, 1, 1)

amount = st.integers(-50_000, 50_000).filter(bool)
legs = st.lists(st.sampled_from(ACCOUNTS), min_size=2, max_size=3, unique=True).flatmap(
    lambda names: st.tuples(
        st.just(names), st.lists(amount, min_size=len(names) - 1, max_size=len(names) - 1)
    )
)
batch = st.tuples(
    st.sampled_from([0, 0, 1, 60, 86_400]),  # seconds the clock moves before the batch
    st.lists(st.tuples(st.integers(0, 40), legs), min_size=1, max_size=3),
    st.one_of(st.none(), st.tuples(st.integers(-2, 45), st.integers(1, 3), st.floats(0, 1))),
)


def balanced(names: Sequence[str], amounts: Sequence[int]) -> list[tuple[str, int]]:
    amounts = list(amounts)
    last = -sum(amounts)
    if last == 0:
        amounts[0] += 1
        last = -1
    return list(zip(names, [*amounts, last], strict=True))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(batch, min_size=1, max_size=8), data=st.data())
def test_checkpoints_never_change_an_answer(engine, batches, data):
    """Random back-dated entries, checkpoints at random points: every answer is the naive sum."""
    clock = FixedClock(START)
    recorder = Recorder(clock)
    known: list[tuple[datetime, date, str, int]] = []  # recorded_at, effective, account, fen
    times: list[datetime] = []
    with engine.connect() as conn:
        outer = conn.begin()
        try:
            n = 0
            for step, drafts, checkpoint in batches:
                clock.advance_to(clock.now() + timedelta(seconds=step))
                built = []
                for day, (names, amounts) in drafts:
                    n += 1
                    effective = DAY0 + timedelta(days=day)
                    postings = balanced(names, amounts)
                    built.append(
                        EntryDraft.build(
                            kind=EntryKind.ADJUSTMENT,
                            effective_date=effective,
                            idempotency_key=f"k{n}",
                            postings=postings,
                        )
                    )
                    known.extend((clock.now(), effective, name, fen) for name, fen in postings)
                recorder.append(conn, built)
                times.append(clock.now())
                if checkpoint is not None:
                    day, minimum, fraction = checkpoint
                    through = max(1, round(fraction * n))
                    make_checkpoints(
                        conn, DAY0 + timedelta(days=day), clock, minimum, through_entry_id=through
                    )
            questions = st.tuples(
                st.sampled_from(ACCOUNTS),
                st.integers(-2, 45),
                st.one_of(
                    st.none(),
                    st.sampled_from(times),
                    st.sampled_from(times).map(lambda t: t - timedelta(microseconds=1)),
                ),
            )
            for name, day, known_at in data.draw(st.lists(questions, min_size=10, max_size=10)):
                as_of = DAY0 + timedelta(days=day)
                expected = sum(
                    fen
                    for recorded, effective, account, fen in known
                    if account == name
                    and effective <= as_of
                    and (known_at is None or recorded <= known_at)
                )
                try:
                    got = balance(conn, name, as_of, known_at)
                except UnknownAccount:
                    got = 0 if all(account != name for _, _, account, _ in known) else None
                assert got == expected, (name, as_of, known_at)
                if known_at is None:  # many accounts at once: the same answers
                    held = balances_of(conn, [name, "personal:pension:never-opened"], as_of)
                    assert held.get(name, 0) == expected, (name, as_of)
                    assert "personal:pension:never-opened" not in held
            for known_at in (None, times[len(times) // 2]):
                as_of = DAY0 + timedelta(days=20)
                for strategy in ("group", "checkpoints"):
                    rows = trial_balance(conn, as_of, known_at, strategy=strategy)
                    assert sum(fen for _, fen in rows) == 0
                    assert all(fen == balance(conn, name, as_of, known_at) for name, fen in rows)
        finally:
            outer.rollback()


def test_the_trial_balance_sums_to_zero_and_matches_each_accounts_balance(engine, clock, recorder):
    # given three months of two members, one back-dated, and checkpoints in between
    with engine.begin() as conn:
        record(
            conn,
            recorder,
            clock,
            at(2025, 1, 20),
            contribution(1, date(2025, 1, 15)),
            contribution(1, date(2025, 1, 15), OTHER),
        )
        make_checkpoints(conn, date(2025, 1, 31), clock, min_postings=1)
        record(conn, recorder, clock, at(2025, 3, 20), contribution(3, date(2025, 3, 15)))
        record(conn, recorder, clock, at(2025, 4, 2), contribution(2, date(2025, 2, 15), OTHER))
    with engine.connect() as conn:
        for as_of, known_at in ((date(2025, 2, 28), None), (date(2025, 3, 31), at(2025, 4, 1))):
            # when the trial balance is taken with checkpoints and with one GROUP BY
            by_checkpoints = trial_balance(conn, as_of, known_at, strategy="checkpoints")
            grouped = trial_balance(conn, as_of, known_at, strategy="group")
            # then both agree, sum to zero, are sorted by name and match balance()
            assert by_checkpoints == grouped == trial_balance(conn, as_of, known_at)
            assert sum(fen for _, fen in grouped) == 0
            assert [name for name, _ in grouped] == sorted(name for name, _ in grouped)
            for name, fen in grouped:
                assert balance(conn, name, as_of, known_at) == fen


def test_a_statement_lists_the_members_postings_with_running_balances(engine, clock, recorder):
    # given two months for the member, one for another member, February back-dated
    with engine.begin() as conn:
        record(conn, recorder, clock, at(2025, 1, 20), contribution(1, date(2025, 1, 15)))
        record(conn, recorder, clock, at(2025, 1, 21), contribution(1, date(2025, 1, 16), OTHER))
        record(conn, recorder, clock, at(2025, 3, 20), contribution(3, date(2025, 3, 15)))
        record(conn, recorder, clock, at(2025, 4, 2), contribution(2, date(2025, 2, 15)))
    with engine.connect() as conn:
        # when the statement is read
        lines = statement(conn, MEMBER)
        # then it has the member's three entries, three postings each, in date order
        assert [line.entry_id for line in lines[::3]] == [1, 4, 3]
        assert {line.account for line in lines} == {COLLECTION, PERSONAL, POOLING}
        personal = [line for line in lines if line.account == PERSONAL]
        assert [line.balance_fen for line in personal] == [-57_296, -114_592, -171_888]
        assert personal[1].period == "2025-02" and personal[1].kind == "contribution"
        # and the last running balance of the personal account is its balance()
        assert personal[-1].balance_fen == balance(conn, PERSONAL, date(2025, 12, 31))
        # and both time axes limit it
        assert len(statement(conn, MEMBER, as_of=date(2025, 2, 28))) == 6
        assert len(statement(conn, MEMBER, known_at=at(2025, 4, 1))) == 6
        with pytest.raises(UnknownMember):
            statement(conn, "110105199001010011")


def test_pooling_is_shown_credit_positive_by_region(engine, clock, recorder):
    with engine.begin() as conn:
        record(conn, recorder, clock, at(2025, 1, 20), contribution(1, date(2025, 1, 15)))
        record(conn, recorder, clock, at(2025, 2, 20), contribution(2, date(2025, 2, 15)))
    with engine.connect() as conn:
        assert pooling_by_region(conn, date(2025, 1, 31)) == [("pension", "110000", 85_944)]
        assert pooling_by_region(conn, date(2025, 2, 28)) == [("pension", "110000", 171_888)]
        assert pooling_by_region(conn, date(2025, 2, 28), at(2025, 1, 31)) == [
            ("pension", "110000", 85_944)
        ]


def test_contribution_months_count_each_paid_month_once(engine, clock, recorder):
    with engine.begin() as conn:
        record(
            conn,
            recorder,
            clock,
            at(2025, 4, 1),
            contribution(1, date(2025, 1, 15)),
            contribution(2, date(2025, 3, 15)),
            contribution(3, date(2025, 3, 15), OTHER),
            contribution(4, date(2025, 3, 20), kind=EntryKind.ADJUSTMENT),
        )
    with engine.connect() as conn:
        rows = contribution_months(conn)
        assert [(r.member_id, r.months, r.first, r.last) for r in rows] == [
            (MEMBER, 2, "2025-01", "2025-03"),
            (OTHER, 1, "2025-03", "2025-03"),
        ]
        assert [r.member_id for r in contribution_months(conn, OTHER)] == [OTHER]


def test_affiliated_arrangements_list_agency_enrolments_until_superseded(engine):
    # given a member enrolled through an agency from January, then on their own from June,
    # and another member enrolled monthly only
    now = at(2025, 1, 1)
    enrolment = {"scheme": "pension", "region": "110000", "agency": None, "recorded_at": now}
    with engine.begin() as conn:
        conn.execute(
            insert(members),
            [
                {
                    "id": m,
                    "region": "110000",
                    "hukou": "110000",
                    "sex": "female",
                    "birth_date": date(1949, 12, 31),
                    "recorded_at": now,
                }
                for m in (MEMBER, OTHER)
            ],
        )
        conn.execute(
            insert(enrolments),
            [
                {
                    **enrolment,
                    "member_id": MEMBER,
                    "method": "agency",
                    "agency": "某人力",
                    "from_month": "2025-01",
                },
                {**enrolment, "member_id": MEMBER, "method": "monthly", "from_month": "2025-06"},
                {**enrolment, "member_id": OTHER, "method": "monthly", "from_month": "2025-01"},
            ],
        )
    with engine.connect() as conn:
        rows = affiliated_arrangements(conn)
    # then one arrangement is listed, from January to May
    assert [(r.member_id, r.agency, r.from_month, r.to_month) for r in rows] == [
        (MEMBER, "某人力", "2025-01", "2025-05")
    ]


def test_auto_uses_checkpoints_on_both_backends_once_one_is_usable(engine, clock, recorder):
    """Measured at 10 million postings (bench/bench_balances.py, 2026-12-03): with the
    per-account pick joined LATERAL and no JIT, PostgreSQL's per-account statement took
    0.17 s against 1.0 s for its GROUP BY pass; SQLite's 0.4 s against 6.6 s. Before any
    checkpoint exists, both group."""
    from ledger.store.totals import chosen_strategy

    with engine.begin() as conn:
        record(conn, recorder, clock, at(2025, 1, 20), contribution(1, date(2025, 1, 15)))
    with engine.connect() as conn:
        assert chosen_strategy(conn, date(2025, 2, 28), None) == "group"
    with engine.begin() as conn:
        make_checkpoints(conn, date(2025, 1, 31), clock, min_postings=1)
    with engine.connect() as conn:
        expected = "checkpoints"
        assert chosen_strategy(conn, date(2025, 2, 28), None) == expected
