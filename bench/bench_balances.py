"""Benchmark the auditor's balance queries at product scale (a script, not a test).

Builds a ledger of N postings (default 10,000,000) shaped like the product: ~10,000
members in 5 regions, one ``contribution`` entry per member and month with 3 postings
(collection debit, personal credit, pooling credit), recorded month by month; 2% of the
entries are back-dated adjustments for a month up to two years earlier. Rows go straight
into the tables (bare ``executemany`` on SQLite, ``COPY`` on PostgreSQL; no recorder, dummy
hashes), and the real indexes of ``ledger.store.tables`` are built after the load.

Then it times, on the product's own engine and query functions:
- point-in-time ``balance`` of one member's personal account and of one pooling account
  (the biggest kind), over the same random dates: the plain indexed sum first (no
  checkpoints: the baseline, measured in the same run), then with checkpoints; on both time
  axes: ``now`` (as of a date, everything recorded) and ``known_at`` (as of a date, as
  known at a time up to a year later: both axes at once);
- a full ``trial_balance`` with one GROUP BY pass and with checkpoints, on both axes;
- making the checkpoints itself.
Checkpoints: at every ``--checkpoint-every`` months' end twice, for every account with
``--min-postings`` postings (once through the head, as a refresh job makes them, once
through the last entry recorded 15 days after the date, as a nightly job would have then);
and a grid (``make_grid``) for the accounts with ``--grid-min-postings``: every
``--grid-months`` months' end as of each month's end, through the last entry recorded by
each month's end, which serves the known-at axis. Every timed answer with checkpoints is
checked against the baseline's. The goals of issue 19 (point balances p50 <= 2 ms, a trial
balance <= 1 s) are printed beside the figures.

``build_ledger(engine, postings)`` builds such a ledger on either backend; other
benchmarks (the HTTP one) import it.

    .venv/bin/python bench/bench_balances.py --postings 10000000
    .venv/bin/python bench/bench_balances.py --postings 300000 --postgres postgresql://postgres@127.0.0.1/flexledger_bench
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import Engine, func, select, text

from ledger.domain.clock import FixedClock
from ledger.store.catalog import metadata
from ledger.store.checkpoints import make_checkpoints, make_grid
from ledger.store.db import make_engine
from ledger.store.queries import balance, known_cutoff, trial_balance
from ledger.store.tables import accounts, checkpoints, entries, postings

REGIONS = ("110000", "310000", "120000", "440100", "440300")
START = date(1998, 1, 1)
CHUNK_MONTHS = 1
console = Console(stderr=True)


# --------------------------------------------------------------------------- the data


def month_start(index: int) -> date:
    return date(START.year + index // 12, index % 12 + 1, 1)


def member_id(i: int) -> str:
    return f"{REGIONS[i % 5]}{i:012d}"


def account_rows(members: int, now: datetime) -> list[tuple]:
    """Ids 1-5 collection, 6-10 pooling, 11… one personal account per member."""
    names = [f"collection:pension:{r}" for r in REGIONS] + [f"pooling:pension:{r}" for r in REGIONS]
    rows = [(n + 1, name, "asset" if n < 5 else "equity", now) for n, name in enumerate(names)]
    rows += [(11 + i, f"personal:pension:{member_id(i)}", "liability", now) for i in range(members)]
    return rows


def months_of(n_postings: int, members: int) -> int:
    return max(1, round(n_postings / (3 * members)))


def generate(members: int, months: int, seed: int) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """(entry rows, posting rows) month by month, ids gapless in recorded order."""
    rng = random.Random(seed)
    entry_id = posting_id = 0
    for m in range(months):
        first = month_start(m)
        days = (month_start(m + 1) - first).days
        step = days * 86_400 / members
        base_time = datetime(first.year, first.month, 1, tzinfo=UTC)
        entry_rows, posting_rows = [], []
        for i in range(members):
            entry_id += 1
            recorded = base_time + timedelta(seconds=int(i * step))
            region = REGIONS[i % 5]
            base_fen = (7162 + (i % 50) * 500) * 100
            if m > 0 and rng.random() < 0.02:  # a back-dated top-up for an earlier month
                back = month_start(m - rng.randint(1, min(24, m)))
                kind, period = "adjustment", back
                effective = back + timedelta(days=i % 28)
                base_fen = 100 * 100
            else:
                kind, period, effective = "contribution", first, recorded.date()
            total = base_fen * 20 // 100
            personal = base_fen * 8 // 100
            digest = f"{entry_id:064x}"
            entry_rows.append(
                (
                    entry_id,
                    kind,
                    effective,
                    recorded,
                    f"{period:%Y-%m}",
                    member_id(i),
                    "pension",
                    region,
                    base_fen,
                    f"{kind}:{member_id(i)}:{entry_id}",
                    digest,
                    "",
                    None,
                    digest,
                    digest,
                )
            )
            r = i % 5
            for account, amount in ((1 + r, total), (11 + i, -personal), (6 + r, personal - total)):
                posting_id += 1
                posting_rows.append((posting_id, entry_id, account, amount, effective))
        yield entry_rows, posting_rows


ENTRY_COLUMNS = (
    "id, kind, effective_date, recorded_at, period, member_id, scheme, region, base_fen, "
    "idempotency_key, fingerprint, reason, corrects, prev_hash, hash"
)
POSTING_COLUMNS = "id, entry_id, account_id, amount_fen, effective_date"
BUILT_LATER = (
    "ix_postings_account_date",
    "ix_postings_account_entry",
    "ix_postings_entry",
    "ix_entries_member_period",
    "ix_entries_recorded_at",
    "uq_entries_contribution",
)


def _progress() -> Progress:
    return Progress(
        *Progress.get_default_columns()[:-1],
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _schema(engine: Engine) -> None:
    """The real tables; the indexes the load would slow down are dropped and built after."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        for name in BUILT_LATER:
            conn.execute(text(f"DROP INDEX {name}"))


def _indexes(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (entries, postings):
            for index in table.indexes:
                if index.name in BUILT_LATER:
                    started = time.perf_counter()
                    index.create(conn)
                    console.log(f"index {index.name}: {time.perf_counter() - started:.1f} s")


def build_sqlite(path: Path, members: int, months: int, seed: int) -> None:
    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    _schema(engine)
    engine.dispose()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode = OFF")
    raw.execute("PRAGMA synchronous = OFF")
    raw.execute("PRAGMA cache_size = -1000000")
    stamp = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format
    raw.execute("BEGIN")
    raw.executemany(
        "INSERT INTO accounts (id, name, type, recorded_at) VALUES (?, ?, ?, ?)",
        [(*row[:3], row[3].strftime(stamp)) for row in account_rows(members, _t0())],
    )
    with _progress() as progress:
        task = progress.add_task("SQLite: loading postings", total=members * months * 3)
        for entry_rows, posting_rows in generate(members, months, seed):
            raw.executemany(
                f"INSERT INTO entries ({ENTRY_COLUMNS}) VALUES ({', '.join('?' * 15)})",
                [(*r[:2], r[2].isoformat(), r[3].strftime(stamp), *r[4:]) for r in entry_rows],
            )
            raw.executemany(
                f"INSERT INTO postings ({POSTING_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                [(*r[:4], r[4].isoformat()) for r in posting_rows],
            )
            progress.advance(task, len(posting_rows))
    raw.execute("COMMIT")
    raw.close()
    engine = make_engine(f"sqlite:///{path}")
    _indexes(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def build_postgres(engine: Engine, members: int, months: int, seed: int) -> None:
    _schema(engine)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy("COPY accounts (id, name, type, recorded_at) FROM STDIN") as copy:
            for row in account_rows(members, _t0()):
                copy.write_row(row)
        with _progress() as progress:
            task = progress.add_task("PostgreSQL: copying postings", total=members * months * 3)
            for entry_rows, posting_rows in generate(members, months, seed):
                with cursor.copy(f"COPY entries ({ENTRY_COLUMNS}) FROM STDIN") as copy:
                    for row in entry_rows:
                        copy.write_row(row)
                with cursor.copy(f"COPY postings ({POSTING_COLUMNS}) FROM STDIN") as copy:
                    copy.write("".join("\t".join(map(str, row)) + "\n" for row in posting_rows))
                progress.advance(task, len(posting_rows))
        raw.commit()
    finally:
        raw.close()
    _indexes(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def shape(n_postings: int, members: int = 10_000) -> tuple[int, int]:
    """(members, months) of a ledger of about ``n_postings``: smaller runs keep ten years
    of history and lose members instead."""
    members = min(members, max(1, n_postings // (3 * 120)))
    return members, months_of(n_postings, members)


def build_ledger(
    engine: Engine, n_postings: int, *, members: int = 10_000, seed: int = 1
) -> dict[str, int]:
    """Build the benchmark's ledger of about ``n_postings`` into ``engine``'s empty database
    (a SQLite file, or a PostgreSQL schema: ``make_engine(url, schema=...)``); returns its
    ``members``, ``months`` and the seconds it took. Accounts: ``pooling:pension:110000``
    (and 4 more regions) and ``personal:pension:<member_id(i)>``."""
    members, months = shape(n_postings, members)
    started = time.perf_counter()
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database or "")
        engine.dispose()
        build_sqlite(path, members, months, seed)
    else:
        build_postgres(engine, members, months, seed)
    return {"members": members, "months": months, "seconds": round(time.perf_counter() - started)}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def _t0() -> datetime:
    return datetime(START.year, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- timing


def timed(call: Callable[..., object], *args: object, **kwargs: object) -> tuple[float, object]:
    """(milliseconds, answer) of one call."""
    started = time.perf_counter()
    answer = call(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, answer


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples) or [0.0]
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 3), "p95_ms": round(p95, 3)}


def measure(engine: Engine, args: argparse.Namespace, months: int) -> dict[str, object]:
    rng = random.Random(args.seed + 1)
    last_day = month_start(months) - timedelta(days=1)
    span = (last_day - START).days
    dates = [START + timedelta(days=rng.randint(0, span)) for _ in range(args.samples)]
    lags = [timedelta(days=rng.randint(0, 365)) for _ in range(args.samples)]
    known = [_midnight(d) + lag for d, lag in zip(dates, lags, strict=True)]
    targets = {"personal": f"personal:pension:{member_id(42)}", "pooling": "pooling:pension:110000"}
    figures: dict[str, object] = {}
    answers: dict[tuple, object] = {}

    def run_points(label: str) -> None:
        with engine.connect() as conn:
            for who, account in targets.items():
                for axis, ats in (("now", [None] * len(dates)), ("known_at", known)):
                    for d, at in zip(dates[:10], ats[:10], strict=True):  # warm the caches
                        balance(conn, account, d, at)
                    samples = []
                    for n, (d, at) in enumerate(zip(dates, ats, strict=True)):
                        ms, answer = timed(balance, conn, account, d, at)
                        samples.append(ms)
                        key = (who, axis, n)
                        if answers.setdefault(key, answer) != answer:
                            raise SystemExit(f"checkpoints changed {key}: {answer}")
                    figures[f"balance {who} {axis} {label}"] = summary(samples)

    def run_trial(label: str, strategy: str) -> None:
        mid = START + timedelta(days=span // 2)
        mid_known = datetime.combine(mid, datetime.min.time(), UTC) + timedelta(days=30)
        with engine.connect() as conn:
            for axis, as_of, at in (("now", last_day, None), ("known_at", mid, mid_known)):
                samples = []
                for _ in range(args.trials):
                    ms, rows = timed(trial_balance, conn, as_of, at, strategy=strategy)
                    samples.append(ms)
                    assert sum(total for _, total in rows) == 0
                    if answers.setdefault(("trial", axis), rows) != rows:
                        raise SystemExit(f"trial balance {axis} differs with {strategy}")
                figures[f"trial_balance {axis} {label}"] = summary(samples)

    console.log("timing without checkpoints (baseline)")
    run_points("baseline")
    run_trial("group", "group")
    console.log("making checkpoints")
    figures["make_checkpoints"] = make_all(engine, args, months)
    console.log("timing with checkpoints")
    run_points("checkpoints")
    run_trial("checkpoints", "checkpoints")
    return figures


def make_all(engine: Engine, args: argparse.Namespace, months: int) -> dict[str, object]:
    clock = FixedClock(datetime.now(UTC))
    every = args.checkpoint_every
    ends = [month_start(m) - timedelta(days=1) for m in range(every, months + 1, every)]
    samples, written, minimum = [], 0, args.min_postings
    for as_of in ends:
        with engine.begin() as conn:
            then = datetime.combine(as_of, datetime.min.time(), UTC) + timedelta(days=15)
            for through in (None, known_cutoff(conn, then)):
                ms, count = timed(
                    make_checkpoints, conn, as_of, clock, minimum, through_entry_id=through
                )
                samples.append(ms)
                written += count  # type: ignore[operator]
    grid_ms = 0.0
    if args.grid_months:
        month_ends = [month_start(m) - timedelta(days=1) for m in range(1, months + 1)]
        as_ofs = month_ends[args.grid_months - 1 :: args.grid_months]
        with engine.begin() as conn:
            head = conn.execute(select(func.max(entries.c.id))).scalar_one()
            ids = {known_cutoff(conn, _midnight(d) + timedelta(days=1)) for d in month_ends}
            throughs = sorted(i for i in ids | {head} if i)
            grid_ms, count = timed(make_grid, conn, as_ofs, throughs, clock, args.grid_min_postings)
            written += count  # type: ignore[operator]
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(checkpoints)).scalar_one()
    return {
        "calls": len(samples),
        "checkpoints": rows,
        "written": written,
        "total_s": round(sum(samples) / 1000, 1),
        "grid_s": round(grid_ms / 1000, 1),
        **summary(samples),
    }


GOALS_MS = {"balance": 2.0, "trial_balance": 1000.0}


def report(figures: dict[str, object], counts: dict[str, int], backend: str) -> None:
    title = f"{backend}: {counts['postings']:,} postings, {counts['entries']:,} entries"
    table = Table(title=title)
    for column in ("query", "p50 ms", "p95 ms", "× baseline p50", "goal p50 ms", "met"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for name, value in figures.items():
        if not isinstance(value, dict) or "p50_ms" not in value or name == "make_checkpoints":
            continue
        base_name = (
            name.replace(" checkpoints", " baseline")
            .replace("trial_balance now baseline", "trial_balance now group")
            .replace("trial_balance known_at baseline", "trial_balance known_at group")
        )
        base = figures.get(base_name)
        ratio = value["p50_ms"] / base["p50_ms"] if isinstance(base, dict) else 1.0
        goal = GOALS_MS[name.split(" ")[0]]
        met = "yes" if value["p50_ms"] <= goal else "no"
        table.add_row(
            name,
            f"{value['p50_ms']:.3f}",
            f"{value['p95_ms']:.3f}",
            f"{ratio:.3f}",
            f"{goal:g}",
            met,
        )
    Console().print(table)
    made = figures["make_checkpoints"]
    Console().print(
        f"make_checkpoints: {made['calls']} calls, p50 {made['p50_ms'] / 1000:.2f} s, "
        f"total {made['total_s']} s; make_grid {made['grid_s']} s; "
        f"{made['checkpoints']:,} checkpoint rows"
    )


def run(engine: Engine, backend: str, args: argparse.Namespace, members: int, months: int) -> dict:
    with engine.connect() as conn:
        counts = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (accounts, entries, postings)
        }
    figures = measure(engine, args, months)
    if not args.json:
        report(figures, counts, backend)
    return {"backend": backend, "members": members, "months": months, **counts, **figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=10_000_000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--sqlite", type=Path, help="database file (default: a temp file)")
    parser.add_argument("--reuse", action="store_true", help="reuse an existing SQLite file")
    parser.add_argument("--postgres", help="also build and time in this PostgreSQL database")
    parser.add_argument("--postgres-only", action="store_true", help="skip SQLite")
    parser.add_argument("--samples", type=int, default=200, help="random dates per query")
    parser.add_argument("--trials", type=int, default=3, help="trial balances per variant")
    parser.add_argument("--checkpoint-every", type=int, default=12, help="months")
    parser.add_argument(
        "--min-postings",
        type=int,
        default=100,
        help="accounts checkpointed every --checkpoint-every months",
    )
    parser.add_argument(
        "--grid-months",
        type=int,
        default=1,
        help="as_of step of the known-at grid, in months (0: no grid)",
    )
    parser.add_argument(
        "--grid-min-postings", type=int, default=1000, help="accounts the grid covers"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--build-only", action="store_true", help="build, measure nothing")
    parser.add_argument(
        "--reuse-postgres",
        action="store_true",
        help="reuse the schema flexledger_bench an earlier --build-only left",
    )
    args = parser.parse_args(argv)
    members, months = shape(args.postings, args.members)
    path = args.sqlite or Path(tempfile.gettempdir()) / f"flexledger-bench-{args.postings}.db"
    results = []
    if not args.postgres_only:
        if not (args.reuse and path.exists()):
            built = build_ledger(
                make_engine(f"sqlite:///{path}"),
                args.postings,
                members=args.members,
                seed=args.seed,
            )
            console.log(f"SQLite built in {built['seconds']} s: {path}")
        if not args.build_only:
            engine = make_engine(f"sqlite:///{path}")
            with engine.begin() as conn:  # a reused file may hold checkpoints of an earlier run
                conn.execute(checkpoints.delete())
            results.append(run(engine, "sqlite", args, members, months))
            engine.dispose()
    if args.postgres:
        schema = "flexledger_bench"
        if not args.reuse_postgres:
            admin = make_engine(args.postgres)
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            admin.dispose()
        engine = make_engine(args.postgres, schema=schema)
        if not args.reuse_postgres:
            built = build_ledger(engine, args.postings, members=args.members, seed=args.seed)
            console.log(f"PostgreSQL built in {built['seconds']} s")
        if not args.build_only:
            with engine.begin() as conn:
                conn.execute(checkpoints.delete())
            results.append(run(engine, "postgresql", args, members, months))
        engine.dispose()
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
