"""A worker killed with SIGKILL in the middle of a run, then restarted, loses nothing and
posts nothing twice.

Real ``dramatiq`` worker processes (what ``flexledger worker`` execs) on a private Redis
and the PostgreSQL test schema. The run is 1,000 members × 3 months in 40 messages. The
whole worker process group is killed (like a machine that died) once some messages are
done and before all are; the messages it had fetched stay unacknowledged in Redis, and
the restarted worker gets them back once the dead one's heartbeat is older than
``FLEXLEDGER_REDIS_HEARTBEAT_TIMEOUT_MS`` (1.5 s here; a minute by default). The expected
entries are computed without the workers, from the ledger's own drafts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from ledger.config import Settings
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.schemes import Scheme
from ledger.store.tables import entries
from ledger.store.worker_tables import job_messages, processed_messages
from workers import actors, runtime, schedule
from workers.broker import configure

from .conftest import FAST, enrol, ledger_for

MEMBERS, FIRST, LAST, PAID_ON = 1_000, Month(2025, 7), Month(2025, 9), date(2025, 10, 10)


def worker_process(database_url: str, redis_url: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "FLEXLEDGER_DATABASE_URL": database_url,
        "FLEXLEDGER_REDIS_URL": redis_url,
        "FLEXLEDGER_REDIS_HEARTBEAT_TIMEOUT_MS": str(FAST.heartbeat_timeout_ms),
        "FLEXLEDGER_REDIS_MAINTENANCE_PER_MILLION": str(FAST.maintenance_per_million),
        "FLEXLEDGER_RETRY_MIN_BACKOFF_MS": "50",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dramatiq",
            "workers.app:from_env",
            "--processes",
            "2",
            "--threads",
            "2",
        ],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, sig: signal.Signals) -> None:
    """Signal the worker's whole process group (the dramatiq parent and its children)."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def expected_keys(engine, members: list[str]) -> set[str]:
    """The contribution keys the run must leave, computed by the ledger without workers."""
    ledger = ledger_for(engine)
    keys: set[str] = set()
    with engine.connect() as conn:
        for member in members:
            found = ledger.enrolments(conn, member, Scheme.PENSION)
            drafts = ledger.contribution_drafts(
                ledger.member(conn, member), found, Scheme.PENSION, FIRST, LAST, PAID_ON
            )
            keys.update(d.idempotency_key for d in drafts)
    return keys


@pytest.mark.redis
@pytest.mark.parametrize("empty_database", ["postgres"], indirect=True)
def test_a_worker_killed_mid_run_then_restarted_posts_every_month_exactly_once(
    engine, empty_database, redis_server, tmp_path
):
    members = enrol(engine, MEMBERS)
    redis.Redis(port=redis_server.port).flushall()
    settings = Settings(database_url=empty_database.url, redis_url=redis_server.url)
    broker = configure(settings, FAST)
    actors.declare(broker)
    runtime.configure(settings, engine=engine)
    run, written = schedule.start(
        engine,
        lambda c: schedule.contributions_run(c, Scheme.PENSION, FIRST, LAST, PAID_ON, 25),
        broker,
    )
    assert written == len(run.messages) == MEMBERS // 25

    def processed() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(processed_messages)).scalar_one()

    log = tmp_path / "worker.log"
    first = worker_process(empty_database.url, redis_server.url, log)
    try:
        wait_for(lambda: processed() >= 4, 60, "the first messages", log)
    finally:
        stop(first, signal.SIGKILL)
    at_kill = processed()
    assert 0 < at_kill < written, "the kill must land in the middle of the run"

    second = worker_process(empty_database.url, redis_server.url, log)
    try:
        wait_for(lambda: processed() == written, 120, "the rest of the run", log)
    finally:
        stop(second, signal.SIGTERM)

    with engine.connect() as conn:
        keys = (
            conn.execute(
                select(entries.c.idempotency_key).where(
                    entries.c.kind == EntryKind.CONTRIBUTION.value
                )
            )
            .scalars()
            .all()
        )
        twice = conn.execute(
            select(entries.c.member_id, entries.c.period)
            .where(entries.c.kind == EntryKind.CONTRIBUTION.value)
            .group_by(entries.c.member_id, entries.c.period)
            .having(func.count() > 1)
        ).all()
        statuses = conn.execute(select(job_messages.c.status).distinct()).scalars().all()
    assert twice == []
    assert len(keys) == MEMBERS * 3
    assert set(keys) == expected_keys(engine, members)
    assert statuses == ["done"]
