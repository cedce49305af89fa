"""The benchmark's ceiling inserts the very rows the simulation wrote.

``bench/bench_simulate.py`` compares the simulation with a bare insert of the same entries
and postings; that comparison means something only if the bare copy holds the same rows,
whichever way it commits (a year at a time, or once per recorded time as the workers do).
"""

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.domain.clock import FixedClock
from ledger.operations.services import Ledger
from ledger.simulate import Scenario, Simulation
from ledger.store.db import make_engine, upgrade
from ledger.store.tables import entries, postings
from ledger.store.verify import verify

BENCH = Path(__file__).parents[2] / "bench" / "bench_simulate.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_simulate", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(engine, table):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(table.c.id))]


@pytest.mark.parametrize("per_message", [False, True])
def test_the_bare_copy_holds_every_entry_and_posting_of_the_simulation(tmp_path, per_message):
    source = make_engine(f"sqlite:///{tmp_path / 'sim.db'}")
    upgrade(source)
    ledger = Ledger(source, FixedClock(datetime(2024, 1, 1, tzinfo=UTC)))
    Simulation(ledger, Scenario(), seed=5, members=20, years=3, start=2024).run()
    target = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    upgrade(target)

    wall, cpu = _bench().copy_rows(source, target, per_message=per_message)

    assert wall > 0 and cpu > 0
    for table in (entries, postings):
        copied = _rows(target, table)
        assert copied == _rows(source, table)
    assert len({row[3].year for row in _rows(target, entries)}) == 3  # three years copied
    with target.connect() as conn:
        assert verify(conn).ok
