"""What committing once per worker message costs SQLite, against once per simulated year.

Simulates ``--members`` × ``--years`` into a temporary SQLite ledger (the product's own
code), then inserts its entries and postings bare into fresh ledgers, as
``bench_simulate.py`` does, four ways: one transaction per year or per recorded time (one
per worker message), each with the store's ``synchronous=NORMAL`` and with
``synchronous=OFF``. It prints the seconds and the bytes the process wrote (``wchar`` of
``/proc/self/io``: the WAL frames and the checkpoints' database pages). ``OFF`` is not a
setting for a ledger in service (an OS crash could corrupt the file); a simulation, whose
ledger was empty and can be written again from its seed, writes with it and syncs once at
the end (``ledger.store.db.deferred_sync``), and this tells what that saves.

    .venv/bin/python bench/bench_commits.py --members 2000 --years 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).parent))

from bench_simulate import copy_rows, population_arguments, simulate

from ledger.store.db import make_engine, upgrade

console = Console(stderr=True)


def written_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    population_arguments(parser)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        source = make_engine(f"sqlite:///{Path(tmp) / 'sim'}.db")
        upgrade(source)
        console.print(f"simulating {args.members} members × {args.years} years …")
        simulate(source, args.members, args.years, args.seed, args.start)
        for per_message in (False, True):
            for synchronous in ("NORMAL", "OFF"):
                label = f"{'message' if per_message else 'year'}-{synchronous.lower()}"
                target = make_engine(f"sqlite:///{Path(tmp) / label}.db")
                if synchronous != "NORMAL":

                    @event.listens_for(target, "connect")
                    def _synchronous(dbapi_connection, _record, value=synchronous) -> None:  # type: ignore[no-untyped-def]
                        dbapi_connection.execute(f"PRAGMA synchronous = {value}")

                upgrade(target)
                console.print(f"bare insert, {label} …")
                before = written_bytes()
                began = time.perf_counter()
                copy_rows(source, target, per_message=per_message, deferred=False)
                seconds = time.perf_counter() - began
                figures.append(
                    {
                        "commit": "per message" if per_message else "per year",
                        "synchronous": synchronous,
                        "seconds": round(seconds, 1),
                        "written_mb": round((written_bytes() - before) / 2**20),
                    }
                )
                target.dispose()
        source.dispose()
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    table = Table(title=f"Bare insert of a simulation's rows: {args.members} × {args.years}")
    for column in ("commit", "synchronous", "seconds", "MB written"):
        table.add_column(column, justify="right")
    for f in figures:
        table.add_row(f["commit"], f["synchronous"], str(f["seconds"]), f"{f['written_mb']:,}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
