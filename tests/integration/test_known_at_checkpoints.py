"""Checkpoints on both time axes: whatever checkpoints exist, every balance is the full scan's.

Hypothesis writes random journals (entries dated up to 400 days before, or 30 after, the
day they are recorded; several entries sharing a recorded time), makes random checkpoints
(``make_checkpoints`` at random (as_of, through) and ``make_grid`` over random dates and
ids), then appends more entries, back-dated ones among them, after the checkpoints were
made. Each balance — as of a date, as known at a time, and both at once — is compared with
an oracle computed in Python from the generated rows, independently of the SQL, through
``balance`` (point) and ``account_balances(strategy="checkpoints")`` (per account, the
trial balance's path). On SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, insert, select, update

from ledger.domain.clock import FixedClock
from ledger.store.balances import balance, known_cutoff
from ledger.store.checkpoints import make_checkpoints, make_grid
from ledger.store.tables import accounts, checkpoints, entries, postings
from ledger.store.totals import account_balances
from ledger.store.verify import VerifyReport, _check_checkpoints
from tests.commands import two_paid_months

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
DUMMY_HASH = "0" * 64


@dataclass(frozen=True)
class Row:
    entry_id: int
    recorded_at: datetime
    effective_date: date
    amount_fen: int  # on account A; account B gets the opposite


entry_specs = st.lists(
    st.tuples(
        st.integers(0, 3),  # hours after the previous entry (0: the same recorded time)
        st.integers(-400, 30),  # effective date: days after the recording day
        st.integers(-50_000, 50_000),
    ),
    min_size=1,
    max_size=40,
)


def append(engine: Engine, prefix: str, ids: tuple[int, int], specs, rows: list[Row]) -> None:
    """Append ``specs`` as entries of two postings (A +amount, B -amount), after everything."""
    with engine.begin() as conn:
        head = conn.execute(select(func.max(entries.c.id))).scalar() or 0
        latest = conn.execute(select(func.max(entries.c.recorded_at))).scalar()
        moment = EPOCH if latest is None else latest.replace(tzinfo=UTC) + timedelta(hours=1)
        new_entries, new_postings = [], []
        for hours, days, amount in specs:
            head += 1
            moment += timedelta(hours=hours)
            effective = moment.date() + timedelta(days=days)
            rows.append(Row(head, moment, effective, amount))
            new_entries.append(
                {
                    "id": head,
                    "kind": "adjustment",
                    "effective_date": effective,
                    "recorded_at": moment,
                    "idempotency_key": f"{prefix}:{head}",
                    "fingerprint": DUMMY_HASH,
                    "reason": "",
                    "prev_hash": DUMMY_HASH,
                    "hash": DUMMY_HASH,
                }
            )
            for account, signed in ((ids[0], amount), (ids[1], -amount)):
                new_postings.append(
                    {
                        "entry_id": head,
                        "account_id": account,
                        "amount_fen": signed,
                        "effective_date": effective,
                    }
                )
        conn.execute(insert(entries), new_entries)
        conn.execute(insert(postings), new_postings)


def oracle(rows: list[Row], as_of: date, known_at: datetime | None) -> int:
    return sum(
        r.amount_fen
        for r in rows
        if r.effective_date <= as_of and (known_at is None or r.recorded_at <= known_at)
    )


def open_accounts(engine: Engine, prefix: str) -> tuple[int, int]:
    with engine.begin() as conn:
        made = []
        for side in ("a", "b"):
            result = conn.execute(
                insert(accounts).values(name=f"{prefix}:{side}", type="asset", recorded_at=EPOCH)
            )
            made.append(result.inserted_primary_key[0])
    return made[0], made[1]


@st.composite
def journals(draw):
    first = draw(entry_specs)
    late = draw(entry_specs)
    picks = st.integers(0, 10_000)
    singles = draw(st.lists(st.tuples(picks, picks), max_size=4))
    grid_dates = draw(st.lists(picks, max_size=6))
    grid_ids = draw(st.lists(picks, max_size=5))
    queries = draw(st.lists(st.tuples(picks, st.one_of(st.none(), picks)), min_size=1, max_size=12))
    return first, late, singles, grid_dates, grid_ids, queries


def pick_date(rows: list[Row], n: int) -> date:
    """A date from a day before the earliest posting to a day after the latest."""
    low = min(r.effective_date for r in rows) - timedelta(days=1)
    high = max(r.effective_date for r in rows) + timedelta(days=1)
    return low + timedelta(days=n % ((high - low).days + 1))


def pick_moment(rows: list[Row], n: int) -> datetime:
    """A time from an hour before the first entry to an hour after the last, on the hour
    (so it often equals a recorded time) or half past."""
    low, high = rows[0].recorded_at - timedelta(hours=1), rows[-1].recorded_at
    span = int((high - low).total_seconds() // 1800) + 2
    return low + timedelta(minutes=30 * (n % span))


def check_all(engine: Engine, prefix: str, rows: list[Row], queries, ids) -> None:
    with engine.connect() as conn:
        for date_pick, moment_pick in queries:
            as_of = pick_date(rows, date_pick)
            known_at = None if moment_pick is None else pick_moment(rows, moment_pick)
            want = oracle(rows, as_of, known_at)
            assert balance(conn, f"{prefix}:a", as_of, known_at) == want, (as_of, known_at)
            assert balance(conn, f"{prefix}:b", as_of, known_at) == -want, (as_of, known_at)
            cutoff = known_cutoff(conn, known_at)
            found = dict(
                account_balances(
                    conn, as_of, cutoff, name_like=f"{prefix}:%", strategy="checkpoints"
                )
            )
            expected = {} if want == 0 else {f"{prefix}:a": want, f"{prefix}:b": -want}
            assert found == expected, (as_of, known_at)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(journal=journals())
def test_checkpointed_balances_equal_the_full_scan_on_both_axes_and_combined(engine, journal):
    first, late, singles, grid_dates, grid_ids, queries = journal
    with engine.connect() as conn:
        serial = conn.execute(select(func.count()).select_from(accounts)).scalar_one()
    prefix = f"prop{serial}"
    ids = open_accounts(engine, prefix)
    rows: list[Row] = []
    append(engine, prefix, ids, first, rows)
    clock = FixedClock(EPOCH)
    entry_ids = [r.entry_id for r in rows]
    with engine.begin() as conn:
        for date_pick, id_pick in singles:
            through = entry_ids[id_pick % len(entry_ids)]
            make_checkpoints(conn, pick_date(rows, date_pick), clock, 1, through_entry_id=through)
        make_grid(
            conn,
            [pick_date(rows, n) for n in grid_dates],
            [entry_ids[n % len(entry_ids)] for n in grid_ids],
            clock,
            1,
        )
    check_all(engine, prefix, rows, queries, ids)
    # Entries recorded after the checkpoints, back-dated among them: still the full scan's.
    append(engine, prefix, ids, late, rows)
    check_all(engine, prefix, rows, queries, ids)
    with engine.connect() as conn:  # every checkpoint made holds what it says
        held = conn.execute(
            select(
                checkpoints.c.as_of,
                checkpoints.c.through_entry_id,
                checkpoints.c.balance_fen,
                checkpoints.c.posting_count,
                checkpoints.c.last_date,
            ).where(checkpoints.c.account_id == ids[0])
        ).all()
    for as_of, through, fen, count, last in held:
        mine = [r for r in rows if r.entry_id <= through]
        assert fen == sum(r.amount_fen for r in mine if r.effective_date <= as_of)
        assert count == sum(1 for r in mine if r.effective_date <= as_of)
        assert last == max(r.effective_date for r in mine)


def test_a_grid_checkpoint_holds_what_its_dates_and_ids_say(engine):
    """Hand-computed: entries 1-3 recorded on 1, 2 and 3 January 2020, dated 1 Jan, 2 Jan
    and (back-dated) 18 Dec 2019; a grid at as_of 31 Dec / 2 Jan through ids 2 and 3."""
    prefix = "hand"
    ids = open_accounts(engine, prefix)
    rows: list[Row] = []
    append(engine, prefix, ids, [(0, 0, 100), (24, 0, 20), (24, -16, 3)], rows)
    assert [r.effective_date for r in rows] == [
        date(2020, 1, 1),
        date(2020, 1, 2),
        date(2019, 12, 18),
    ]
    with engine.begin() as conn:
        written = make_grid(
            conn, [date(2019, 12, 31), date(2020, 1, 2)], [2, 3], FixedClock(EPOCH), 1
        )
        again = make_grid(
            conn, [date(2019, 12, 31), date(2020, 1, 2)], [2, 3], FixedClock(EPOCH), 1
        )
        held = conn.execute(
            select(
                checkpoints.c.as_of,
                checkpoints.c.through_entry_id,
                checkpoints.c.balance_fen,
                checkpoints.c.posting_count,
                checkpoints.c.last_date,
            )
            .where(checkpoints.c.account_id == ids[0])
            .order_by(checkpoints.c.through_entry_id, checkpoints.c.as_of)
        ).all()
    # Through id 2 nothing is dated on or before 31 Dec: no row (0 postings); 2 Jan holds
    # 120 and is complete (last date 2 Jan). Through id 3: 31 Dec holds the back-dated 3.
    assert [tuple(r) for r in held] == [
        (date(2020, 1, 2), 2, 120, 2, date(2020, 1, 2)),
        (date(2019, 12, 31), 3, 3, 1, date(2020, 1, 2)),
        (date(2020, 1, 2), 3, 123, 3, date(2020, 1, 2)),
    ]
    assert (written, again) == (6, 0)  # three rows for each of the two accounts
    with engine.begin() as conn:  # verify checks last_date too
        report = VerifyReport()
        _check_checkpoints(conn, report)
        assert report.problems == []
        conn.execute(
            update(checkpoints)
            .where(checkpoints.c.through_entry_id == 2)
            .values(last_date=date(2020, 1, 1))
        )
        _check_checkpoints(conn, report)
        assert len(report.problems) == 2
        assert "last date is 2020-01-01, postings say 2020-01-02" in report.problems[0]


def test_flexledger_checkpoint_grid_makes_the_grid_once_and_answers_stay_the_same(
    engine, empty_database, monkeypatch, capsys
):
    """Two months paid through the CLI; the grid over Jul-Sep 2025 (3 month ends; entries
    recorded by each month's end and the last entry) checkpoints the collection and pooling
    accounts (2 postings each, --min-postings 1); a rerun writes nothing."""
    from ledger.cli import main
    from ledger.cli.context import settings as cli_settings

    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    cli_settings.cache_clear()
    member = "11010519491231002X"
    for argv in two_paid_months(member):
        assert main(argv) == 0, argv
    capsys.readouterr()
    before = {}
    with engine.connect() as conn:
        names = [n for (n,) in conn.execute(select(accounts.c.name))]
        for name in names:
            before[name] = balance(conn, name, date(2025, 12, 31))
    grid = ["checkpoint-grid", "--from", "2025-07", "--to", "2025-09", "--min-postings", "1"]
    assert main(grid) == 0
    first = capsys.readouterr().out
    assert main(grid) == 0
    again = capsys.readouterr().out
    assert first.startswith("made ") and not first.startswith("made 0 ")
    assert again == "made 0 checkpoints as of 3 month ends through 1 entries\n"
    with engine.connect() as conn:
        assert {n: balance(conn, n, date(2025, 12, 31)) for n in names} == before
        assert conn.execute(select(func.count()).select_from(checkpoints)).scalar_one() > 0
    assert main(["checkpoint-grid", "--from", "2025-09", "--to", "2025-07"]) == 2
    assert "--to" in capsys.readouterr().err
