"""A simulation through Redis and separate worker processes writes the ledger the embedded
run writes, byte for byte.

``flexledger simulate`` with ``FLEXLEDGER_REDIS_URL`` set sends its messages to Redis; here
two ``dramatiq`` worker processes of two threads each (what ``flexledger worker`` execs)
take them, on the test's database (SQLite file or PostgreSQL schema). The same seed run
with the embedded in-process worker into another SQLite file must export the same journal:
the sequencer keeps the story's order whichever worker takes a message.
"""

from __future__ import annotations

import io
import signal
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from ledger.config import Settings
from ledger.domain.clock import FixedClock
from ledger.domain.errors import SimulationStepFailed
from ledger.operations.services import Ledger
from ledger.simulate import Scenario, Simulation
from ledger.store.db import make_engine, upgrade
from ledger.store.export import export_ledger
from ledger.store.worker_tables import processed_messages
from workers import runtime
from workers.schedule import Run
from workers.sequence import Sequencer

from .conftest import enrol, mark_simulation
from .test_crash import stop, worker_process

START, MEMBERS, YEARS, SEED = 2025, 40, 2, 13


def _journal(engine) -> str:
    out = io.StringIO()
    with engine.connect() as conn:
        export_ledger(conn, out)
    return out.getvalue()


def _simulation(engine) -> Simulation:
    ledger = Ledger(engine, FixedClock(datetime(START, 1, 1, tzinfo=UTC)))
    return Simulation(ledger, Scenario(), seed=SEED, members=MEMBERS, years=YEARS, start=START)


@pytest.mark.redis
def test_a_simulation_through_redis_workers_writes_the_embedded_ledger_byte_for_byte(
    engine, empty_database, redis_server, tmp_path
):
    redis_server.client().flushall()
    embedded = make_engine(f"sqlite:///{tmp_path / 'embedded.db'}")
    upgrade(embedded)
    _simulation(embedded).run()

    workers = worker_process(empty_database.url, redis_server.url, tmp_path / "workers.log")
    try:
        settings = Settings(database_url=empty_database.url, redis_url=redis_server.url)
        with Sequencer(settings, engine) as sequencer:
            assert not sequencer.embedded
            simulation = _simulation(engine)
            simulation.sequencer = sequencer
            result = simulation.run()
    finally:
        stop(workers, signal.SIGTERM)
        runtime.configure(Settings())
    assert result.workers == "redis" and result.messages >= 2 * 12 * YEARS  # payments, fees…
    with engine.connect() as conn:
        processed = conn.execute(select(func.count()).select_from(processed_messages)).scalar_one()
    assert processed > result.messages  # + the accepts the workers chained for transfers
    assert _journal(engine) == _journal(embedded), (tmp_path / "workers.log").read_text()[-3000:]


@pytest.mark.redis
def test_a_simulation_waiting_for_a_worker_says_so_and_goes_on_when_one_comes(
    engine, empty_database, redis_server, caplog, monkeypatch
):
    import threading

    import dramatiq

    from workers import sequence

    redis_server.client().flushall()
    monkeypatch.setattr(sequence, "STALL_SECONDS", 0.2)
    members = enrol(engine, 2)
    mark_simulation(engine)
    key = "test:waiting"
    run = Run(
        key,
        "post_payments_batch",
        (
            {
                "run_key": key,
                "pairs": [[m, "pension"] for m in members],
                "first": "2025-07",
                "last": "2025-07",
                "paid_on_iso": "2025-07-15",
            },
        ),
    )
    settings = Settings(database_url=empty_database.url, redis_url=redis_server.url)
    try:
        with Sequencer(settings, engine) as sequencer:
            sender = threading.Thread(
                target=sequencer.send, args=(run, datetime(2025, 7, 15, 12, tzinfo=UTC))
            )
            sender.start()
            sender.join(1.0)
            assert sender.is_alive()  # nobody has taken the message: still waiting
            assert "is `flexledger worker` running" in caplog.text
            worker = dramatiq.Worker(sequencer.broker, worker_threads=1, worker_timeout=50)
            worker.start()
            sender.join(30)
            worker.stop()
            assert not sender.is_alive()
    finally:
        runtime.configure(Settings())
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(processed_messages)).scalar_one() == 1


def _one_payment(key: str, members: list[str], first: str = "2025-07") -> Run:
    return Run(
        key,
        "post_payments_batch",
        (
            {
                "run_key": key,
                "pairs": [[m, "pension"] for m in members],
                "first": first,
                "last": "2025-07",
                "paid_on_iso": "2025-07-15",
            },
        ),
    )


def test_a_simulation_step_that_fails_stops_the_simulation_with_the_workers_error(
    engine, empty_database
):
    members = enrol(engine, 2)
    mark_simulation(engine)
    at = datetime(2025, 7, 15, 12, tzinfo=UTC)
    try:
        with Sequencer(Settings(database_url=empty_database.url), engine) as sequencer:
            assert sequencer.embedded
            sequencer.send(_one_payment("test:ok", members), at)
            with pytest.raises(SimulationStepFailed, match="exists already"):
                sequencer.send(_one_payment("test:ok", members), at)  # would be skipped
            with pytest.raises(SimulationStepFailed, match="InvalidPeriod"):
                sequencer.send(_one_payment("test:bad", members, first="2025-13"), at)
    finally:
        runtime.configure(Settings())


@pytest.mark.redis
def test_flexledger_simulate_with_a_redis_url_is_done_by_the_worker_processes(
    empty_database, redis_server, tmp_path
):
    """The command a user runs: with ``FLEXLEDGER_REDIS_URL`` set, ``flexledger simulate``
    hands every message to Redis and the separate workers post them."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ledger.store.verify import verify

    redis_server.client().flushall()
    env = {
        **os.environ,
        "FLEXLEDGER_DATABASE_URL": empty_database.url,
        "FLEXLEDGER_REDIS_URL": redis_server.url,
    }
    flexledger = str(Path(sys.executable).parent / "flexledger")  # the installed command
    subprocess.run([flexledger, "init"], env=env, check=True, capture_output=True)
    workers = worker_process(empty_database.url, redis_server.url, tmp_path / "workers.log")
    try:
        done = subprocess.run(
            [
                flexledger,
                "simulate",
                "--members",
                "20",
                "--years",
                "1",
                "--start",
                "2025",
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        stop(workers, signal.SIGTERM)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["workers"] == "redis" and summary["worker_messages"] > 12
    assert summary["trial_balance_total"] == "0.00"
    engine = make_engine(empty_database.url)
    try:
        with engine.connect() as conn:
            assert verify(conn).ok
            processed = conn.execute(
                select(func.count()).select_from(processed_messages)
            ).scalar_one()
        assert processed >= summary["worker_messages"]
    finally:
        engine.dispose()
