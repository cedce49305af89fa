"""Broker and runtime set-up: from configuration, nothing connecting at import, engines
never inherited, transient faults told apart, the scheduler idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import date

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from ledger.config import Settings
from ledger.domain.errors import BadInput, BankUnavailable, Transient
from ledger.store.worker_tables import outbox
from workers import runtime, scheduler
from workers.broker import BrokerOptions, configure
from workers.faults import is_transient
from workers.outbox import progress

from .conftest import enrol, free_port, join


def test_the_broker_comes_from_configuration_and_connects_to_nothing():
    stub = configure(Settings(), BrokerOptions())
    assert isinstance(stub, StubBroker) and dramatiq.get_broker() is stub
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    found = configure(Settings(redis_url=nowhere), BrokerOptions(heartbeat_timeout_ms=5_000))
    assert isinstance(found, RedisBroker) and dramatiq.get_broker() is found
    assert found.heartbeat_timeout == 5_000


def test_importing_the_actors_sets_no_broker_and_declares_nothing():
    script = (
        "import dramatiq.broker as b, workers.actors as a; "
        "print(b.global_broker is None, len(a.declared), len(a.ACTORS))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    # nothing set or declared; 13 actors registered (9, the benefit phase's three and the
    # API's verify job)
    assert out.split() == ["True", "0", "13"]


def test_start_up_from_the_environment_configures_the_broker_without_connecting():
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    script = (
        "import dramatiq.broker as b, workers.app as app, workers.actors as a; "
        "found = app.from_env(); "
        "print(type(b.global_broker).__name__, found is b.global_broker, len(a.declared))"
    )
    for url, expected in ((None, "StubBroker"), (nowhere, "RedisBroker")):
        env = {k: v for k, v in os.environ.items() if k != "FLEXLEDGER_REDIS_URL"}
        if url:
            env["FLEXLEDGER_REDIS_URL"] = url
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert out.split() == [expected, "True", "13"]  # with the API's verify job


def test_options_are_read_from_the_environment():
    found = BrokerOptions.from_env(
        {"FLEXLEDGER_MAX_RETRIES": "2", "FLEXLEDGER_REDIS_HEARTBEAT_TIMEOUT_MS": "3000"}
    )
    assert (found.max_retries, found.heartbeat_timeout_ms, found.min_backoff_ms) == (2, 3000, 1000)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (Transient("x"), True),
        (BankUnavailable("timeout"), True),
        (OperationalError("SELECT 1", {}, Exception("server closed")), True),
        (redis.ConnectionError("refused"), True),
        (BadInput("year", "not ended"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_transient_faults_are_retried(error, transient):
    assert is_transient(error) is transient


def test_an_engine_is_never_inherited_by_a_forked_process(engine, empty_database, monkeypatch):
    found = runtime.Runtime(Settings(database_url=empty_database.url), engine=engine)
    assert found.engine() is engine
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a child after fork
    child = found.engine()
    assert child is not engine and child.url.database == engine.url.database
    assert found.engine() is child
    found.dispose()


def test_each_thread_has_its_own_ledger_on_the_shared_engine(engine, empty_database):
    found = runtime.Runtime(Settings(database_url=empty_database.url), engine=engine)
    ledgers = [found.ledger()]
    thread = threading.Thread(target=lambda: ledgers.append(found.ledger()))
    thread.start()
    thread.join()
    assert ledgers[0] is not ledgers[1]
    assert ledgers[0].engine is ledgers[1].engine is engine
    assert found.ledger() is ledgers[0]


def test_a_scheduler_started_twice_does_nothing_twice(engine, broker, worker):
    enrol(engine, 5, method="bank", signed_on=date(2025, 6, 10))
    runs = [scheduler.scheduler(engine, broker, lambda: date(2025, 12, 1)) for _ in range(2)]
    names = [name for name, _ in scheduler.PERIODIC]
    assert [j.id for j in runs[0].get_jobs()] == [*names, "relay"]
    for found in runs:  # both fire the December deduction
        job = found.get_job("bank-deduction")
        job.func(*job.args)
    join(broker)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 1
    assert progress(engine, "bank-deduction:2025")["done"] == 1


def test_a_running_worker_collects_cycles_less_often_and_its_stop_restores_the_collector():
    """``FewerCollections``: gen0 threshold raised from the first worker's boot to the last
    worker's stop (two workers in one process, as an embedded run beside a test's)."""
    import gc

    from workers.broker import FewerCollections

    before = gc.get_threshold()
    assert before[0] != FewerCollections.GEN0_THRESHOLD
    broker = configure(Settings(), BrokerOptions())
    first = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    second = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    first.start()
    try:
        assert gc.get_threshold() == (FewerCollections.GEN0_THRESHOLD, *before[1:])
        second.start()
        first.stop()
        assert gc.get_threshold()[0] == FewerCollections.GEN0_THRESHOLD  # one still runs
        first.stop()  # again: counted once
        assert gc.get_threshold()[0] == FewerCollections.GEN0_THRESHOLD
    finally:
        first.stop()
        second.stop()
    assert gc.get_threshold() == before


def test_the_scheduler_pays_each_months_pensions_on_the_10th(engine, broker):
    """Production pays pensions without a hand-run job: the scheduler's ``pensions`` job
    fires monthly (day 10, 07:00 Asia/Shanghai) and builds the month's ``pensions_run``."""
    found = scheduler.scheduler(engine, broker, lambda: date(2025, 12, 10))
    job = found.get_job("pensions")
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["month"], fields["day"], fields["hour"]) == ("*", "10", "7")
    [build] = [b for name, _, b in scheduler.periodic_runs() if name == "pensions"]
    with engine.connect() as conn:
        run = build(conn, date(2025, 12, 10))
    assert (run.key, run.actor) == ("pensions:2025-12", "pension_payments_batch")
