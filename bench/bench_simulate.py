"""Benchmark the main job: simulated contributions per second against a bare bulk insert.

For each backend (SQLite always; PostgreSQL with ``--postgres URL``):
1. simulate ``--members`` members over ``--years`` years into a fresh, migrated ledger,
   through the product's own code (``ledger.simulate.Simulation``), timed;
2. read back every row it wrote to ``entries`` and ``postings``, and insert the very same
   rows into another fresh, migrated ledger — same indexes, same triggers — with nothing
   but the driver: ``executemany`` on SQLite, ``COPY`` on PostgreSQL, one transaction per
   year of entries, with the durability the simulation writes with (SQLite: no sync
   until the end, then one, ``ledger.store.db.deferred_sync``). That is the ceiling: what
   the database itself costs for these rows (the simulation commits once per worker
   message, a few dozen times a year, so the ratio prices those commits too);
3. print both rates and their ratio (the issue asks for at least a third); with
   ``--trials N`` all of it N times, reporting the run with the median ratio and every
   run's ratio (this machine's runs vary by 10–30%);
4. insert the same rows once more, committing once per recorded time as the workers do
   (a message's entries share its story time), and print that ratio too: what the
   simulation costs beyond the database work its commits imply.

    .venv/bin/python bench/bench_simulate.py --members 2000 --years 10
    .venv/bin/python bench/bench_simulate.py --members 10000 --years 30 \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/flexledger_test --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import Connection, Engine, func, select, text

from ledger.domain.clock import FixedClock
from ledger.operations.services import Ledger
from ledger.simulate import Scenario, Simulation
from ledger.store.bulk import bulk_insert
from ledger.store.db import deferred_sync, make_engine, upgrade
from ledger.store.recorder import ENTRY_COLUMNS, POSTING_COLUMNS
from ledger.store.tables import accounts, enrolments, entries, members, postings

console = Console(stderr=True)


def simulate(
    engine: Engine, members: int, years: int, seed: int, start: int
) -> tuple[float, float, int]:
    """(wall seconds, this process's CPU seconds, contributions)."""
    ledger = Ledger(engine, FixedClock(datetime(start, 1, 1, tzinfo=UTC)))
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("months", total=years * 12)
        began, cpu = time.perf_counter(), time.process_time()
        result = Simulation(
            ledger,
            Scenario(),
            seed=seed,
            members=members,
            years=years,
            start=start,
            progress=lambda done, _total: bar.update(task, completed=done),
        ).run()
        return time.perf_counter() - began, time.process_time() - cpu, result.contributions


def copy_rows(
    source: Engine, target: Engine, per_message: bool = False, deferred: bool = True
) -> tuple[float, float]:
    """Insert ``source``'s entries and postings into ``target`` bare: (wall, CPU) seconds.

    One transaction per year of recorded time; with ``per_message``, one per recorded
    time instead, which is how the workers commit (each message records at its own story
    time): the same rows with the simulation's commits, to tell what the commits cost from
    what the Python work costs. Rows are read a year at a time (untimed), so memory stays
    at a year's rows at any scale; only the inserts, their commits and the final sync are
    timed.
    """
    with source.connect() as conn:
        for table in (members, enrolments, accounts):
            rows = [tuple(r) for r in conn.execute(select(table))]
            with target.begin() as out:
                bulk_insert(out, table, [c.name for c in table.columns], rows)
    wall = cpu = 0.0
    with ExitStack() as stack:
        # As the simulation writes (``Simulation.run``): no sync until the end, then one;
        # ``deferred=False``: as the target's connections are set (``bench_commits.py``).
        stack.enter_context(deferred_sync(target) if deferred else nullcontext())
        for entry_rows, posting_rows in _transactions(source, per_message):
            began, used = time.perf_counter(), time.process_time()
            with target.begin() as out:
                bulk_insert(out, entries, ENTRY_COLUMNS, entry_rows)
                bulk_insert(out, postings, POSTING_COLUMNS, posting_rows)
            wall, cpu = wall + time.perf_counter() - began, cpu + time.process_time() - used
        began, used = time.perf_counter(), time.process_time()
    return wall + time.perf_counter() - began, cpu + time.process_time() - used


def _transactions(source: Engine, per_message: bool) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """(entry rows, posting rows) of each transaction, in id order: a year of recorded time
    each, or with ``per_message`` each recorded time. A year's entries are a range of ids
    (recorded times never go backwards), and its postings the same range of entry ids."""
    # One connection for both reads: a SQLite ledger's transactions take the write lock.
    with source.connect() as conn:
        year: list[tuple] = []
        for row in conn.execution_options(yield_per=20_000).execute(
            select(*(entries.c[c] for c in ENTRY_COLUMNS)).order_by(entries.c.id)
        ):
            if year and row[3].year != year[-1][3].year:
                yield from _split(conn, year, per_message)
                year = []
            year.append(tuple(row))
        if year:
            yield from _split(conn, year, per_message)


def _split(
    conn: Connection, entry_rows: list[tuple], per_message: bool
) -> Iterator[tuple[list[tuple], list[tuple]]]:
    posting_rows = [
        tuple(r)
        for r in conn.execute(
            select(*(postings.c[c] for c in POSTING_COLUMNS))
            .where(postings.c.entry_id.between(entry_rows[0][0], entry_rows[-1][0]))
            .order_by(postings.c.id)
        )
    ]
    if not per_message:
        yield entry_rows, posting_rows
        return
    groups: dict[object, tuple[list[tuple], list[tuple]]] = {}
    recorded = {row[0]: row[3] for row in entry_rows}
    for row in entry_rows:
        groups.setdefault(row[3], ([], []))[0].append(row)
    for row in posting_rows:
        groups[recorded[row[0]]][1].append(row)
    yield from groups.values()  # in recorded order: dicts keep insertion order


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def postgres_engine(url: str) -> tuple[Engine, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = make_engine(url, schema=schema)
    upgrade(engine)
    return engine, schema


def drop_schema(url: str, schema: str) -> None:
    admin = make_engine(url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def run_backend(name: str, make, args) -> dict[str, object]:  # type: ignore[no-untyped-def]
    simulated, simulated_cleanup = make("sim")
    try:
        seconds, cpu, contributions = simulate(
            simulated, args.members, args.years, args.seed, args.start
        )
        n_entries, n_postings = count(simulated, entries), count(simulated, postings)
        bare, bare_cleanup = make("bare")
        try:
            console.print(f"[{name}] bare insert of the same {n_entries:,} entries …")
            bare_seconds, bare_cpu = copy_rows(simulated, bare)
        finally:
            bare.dispose()
            bare_cleanup()
        bare, bare_cleanup = make("bare_per_message")
        try:
            console.print(f"[{name}] … and again, committing as the workers do …")
            per_message_seconds, _ = copy_rows(simulated, bare, per_message=True)
        finally:
            bare.dispose()
            bare_cleanup()
    finally:
        simulated.dispose()
        simulated_cleanup()
    sim_rate, bare_rate = n_entries / seconds, n_entries / bare_seconds
    return {
        "backend": name,
        "members": args.members,
        "years": args.years,
        "contributions": contributions,
        "entries": n_entries,
        "postings": n_postings,
        "simulate_seconds": round(seconds, 1),
        "contributions_per_second": round(contributions / seconds),
        "entries_per_second": round(sim_rate),
        "bare_insert_seconds": round(bare_seconds, 1),
        "bare_entries_per_second": round(bare_rate),
        "ratio": round(sim_rate / bare_rate, 3),
        "bare_per_message_seconds": round(per_message_seconds, 1),
        "ratio_same_commits": round(per_message_seconds / seconds, 3),
        # This process's CPU time (all its threads; not PostgreSQL's server): steadier
        # than wall time on a shared machine, but blind to waiting on the disk or server.
        "simulate_cpu_seconds": round(cpu, 1),
        "bare_insert_cpu_seconds": round(bare_cpu, 1),
        "ratio_cpu": round(bare_cpu / cpu, 3),
    }


def run_trials(name: str, make, args) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """``run_backend`` ``args.trials`` times: the figures of the trial with the median ratio,
    with every trial's ratios (this machine's runs vary by 10–30%)."""
    trials = []
    for trial in range(args.trials):
        if args.trials > 1:
            console.print(f"[{name}] trial {trial + 1} of {args.trials}")
        trials.append(run_backend(name, make, args))
    trials.sort(key=lambda t: t["ratio"])  # type: ignore[arg-type, return-value]
    return {
        **trials[(len(trials) - 1) // 2],
        "trials": len(trials),
        "ratios": [t["ratio"] for t in trials],
        "ratios_cpu": sorted(t["ratio_cpu"] for t in trials),
        "ratios_same_commits": sorted(t["ratio_same_commits"] for t in trials),
    }


def population_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulated population's options, shared by the benchmarks that simulate."""
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=int, default=2017)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    population_arguments(parser)
    parser.add_argument("--postgres", help="also run on this PostgreSQL URL (a fresh schema)")
    parser.add_argument(
        "--trials",
        type=int,
        default=1,
        help="run each backend N times; report the median ratio's run",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = []
    with tempfile.TemporaryDirectory() as tmp:

        def sqlite(label: str):  # type: ignore[no-untyped-def]
            path = Path(tmp) / f"{label}.db"
            engine = make_engine(f"sqlite:///{path}")
            upgrade(engine)
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            return engine, lambda: [f.unlink(missing_ok=True) for f in files]

        figures.append(run_trials("sqlite", sqlite, args))
    if args.postgres:

        def postgres(label: str):  # type: ignore[no-untyped-def]
            engine, schema = postgres_engine(args.postgres)
            return engine, lambda: drop_schema(args.postgres, schema)

        figures.append(run_trials("postgresql", postgres, args))
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    table = Table(
        title=f"Simulation vs bare bulk insert: {args.members} members × {args.years} years"
    )
    for column in (
        "backend",
        "contributions",
        "entries",
        "postings",
        "simulate s",
        "contrib/s",
        "entries/s",
        "bare s",
        "bare entries/s",
        "ratio",
        "bare s, commits as workers",
        "ratio, same commits",
        "ratio, CPU time",
        "ratios of all trials",
    ):
        table.add_column(column, justify="right")
    for f in figures:
        table.add_row(
            *(
                str(f[k])
                for k in (
                    "backend",
                    "contributions",
                    "entries",
                    "postings",
                    "simulate_seconds",
                    "contributions_per_second",
                    "entries_per_second",
                    "bare_insert_seconds",
                    "bare_entries_per_second",
                    "ratio",
                    "bare_per_message_seconds",
                    "ratio_same_commits",
                    "ratio_cpu",
                )
            ),
            ", ".join(str(r) for r in f["ratios"]),
        )
    Console(width=200).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
