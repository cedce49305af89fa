"""A simulation's bulk load into a SQLite file: no sync per commit, one durable sync at the end.

Given an engine on a SQLite file, inside ``deferred_sync`` every connection it hands out
runs with ``synchronous=OFF``; after the block (whether it ended normally or raised) every
connection is back to ``NORMAL`` and the WAL has been checkpointed into the database file
and emptied, so what was committed inside survives without the WAL. Other databases are
left alone. A simulation runs inside it.
"""

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from ledger.domain.clock import FixedClock
from ledger.operations.services import Ledger
from ledger.simulate import Scenario, Simulation
from ledger.store.db import deferred_sync, make_engine, upgrade

OFF, NORMAL = 0, 1


def pragma(conn) -> int:  # type: ignore[no-untyped-def]
    """The connection's ``synchronous``, read on the driver's connection: no BEGIN."""
    return conn.connection.driver_connection.execute("PRAGMA synchronous").fetchone()[0]


def synchronous(engine: Engine) -> int:
    with engine.connect() as conn:
        return pragma(conn)


@pytest.fixture
def file_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def wal_bytes(engine: Engine) -> int:
    wal = engine.url.database + "-wal"
    with open(wal, "rb") as f:
        return len(f.read())


def test_inside_the_block_connections_do_not_sync_and_after_it_they_do(file_engine):
    assert synchronous(file_engine) == NORMAL
    with deferred_sync(file_engine) as applied:
        assert applied
        assert synchronous(file_engine) == OFF
        with file_engine.connect() as first, file_engine.connect() as second:
            # two connections at once: the pool's and a new one
            assert pragma(first) == OFF
            assert pragma(second) == OFF
    with (
        file_engine.connect() as first,
        file_engine.connect() as second,
        file_engine.connect() as third,
    ):
        for conn in (first, second, third):
            assert pragma(conn) == NORMAL


def test_leaving_the_block_checkpoints_the_wal_into_the_database_file(file_engine):
    with deferred_sync(file_engine):
        with file_engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
        assert wal_bytes(file_engine) > 0
    assert wal_bytes(file_engine) == 0
    file_engine.dispose()
    with make_engine(file_engine.url).connect() as conn:
        assert conn.execute(text("SELECT sum(x) FROM t")).scalar_one() == 6


def test_an_error_inside_the_block_still_restores_syncing(file_engine):
    with pytest.raises(RuntimeError, match="boom"), deferred_sync(file_engine):
        with file_engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        raise RuntimeError("boom")
    assert synchronous(file_engine) == NORMAL
    assert wal_bytes(file_engine) == 0


def test_in_memory_sqlite_is_left_alone():
    """Nothing on disk to sync: the block applies nothing and the pragma keeps its value."""
    memory = make_engine("sqlite://")
    with memory.connect() as conn:
        before = pragma(conn)
    with deferred_sync(memory) as applied:
        assert not applied
        with memory.connect() as conn:
            assert pragma(conn) == before


@pytest.mark.postgres
def test_postgresql_is_left_alone(postgres_server):
    _, admin = postgres_server
    with deferred_sync(admin) as applied:
        assert not applied
        with admin.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"


def test_a_simulation_leaves_its_sqlite_ledger_synced_and_its_wal_empty(file_engine):
    ledger = Ledger(file_engine, FixedClock(datetime(2020, 1, 1, tzinfo=UTC)))
    result = Simulation(ledger, Scenario(), seed=3, members=5, years=1, start=2020).run()
    assert result.contributions > 0
    assert wal_bytes(file_engine) == 0
    assert synchronous(file_engine) == NORMAL
