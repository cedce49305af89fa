"""Redis stopped and restarted in the middle of a run loses nothing.

Two places hold messages while Redis is away, and both must survive:
- the outbox: a run started during the outage writes its messages in the database; the
  relay cannot hand them over, so they stay unsent, and the first relay after the
  restart sends them;
- Redis itself: messages already relayed but not yet processed live only in Redis. They
  survive a restart only if Redis persists them, which is why production Redis runs with
  ``appendonly yes`` (AOF; ``appendfsync everysec`` loses at most a second of enqueues on
  a crash, and the outbox does not re-send rows it marked sent). This test's Redis uses
  AOF with ``appendfsync always`` and is killed (SIGKILL, a crash) with most of the first
  run still queued in it and a message or two being processed.

A crash can also cut a fetch after Redis moved a message to the worker's in-flight set
and before the worker received it: Redis gives it back only when that worker dies, so
the relay's sweep (``outbox.resend_stale``, run by the scheduler) sends such a message
again once the queue is empty; its effect stays once.
"""

from __future__ import annotations

import threading
import time
from datetime import date

import dramatiq
import pytest
from dramatiq.middleware import Middleware
from sqlalchemy import func, select

from ledger.config import Settings
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.schemes import Scheme
from ledger.store.tables import entries
from ledger.store.worker_tables import job_messages, processed_messages
from workers import actors, runtime, schedule
from workers.broker import configure
from workers.outbox import relay_all, resend_stale, unsent

from .conftest import FAST, RedisServer, enrol, free_port

MEMBERS = 200


class Gate(Middleware):
    """Holds the worker before its message number ``after + 1`` until the test opens it:
    the outage then starts at a known point of the run, on any machine."""

    def __init__(self, after: int) -> None:
        self.after, self.seen = after, 0
        self.reached, self.opened = threading.Event(), threading.Event()

    def before_process_message(self, broker, message) -> None:
        self.seen += 1
        if self.seen == self.after + 1:
            self.reached.set()
            self.opened.wait(30)


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def wait_for(condition, timeout_s: float, what: str, state=lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}: {state()}")
        time.sleep(0.05)


@pytest.mark.redis
def test_redis_stopped_and_restarted_in_the_middle_of_a_run_loses_nothing(
    engine, empty_database, tmp_path
):
    server = RedisServer(free_port(), tmp_path, persistent=True)
    server.start()
    worker = None
    try:
        settings = Settings(database_url=empty_database.url, redis_url=server.url)
        broker = configure(settings, FAST)
        actors.declare(broker)
        runtime.configure(settings, engine=engine)
        enrol(engine, MEMBERS)

        def contributions(first: Month, last: Month, size: int):
            return schedule.start(
                engine,
                lambda c: schedule.contributions_run(
                    c, Scheme.PENSION, first, last, date(2025, 10, 10), size
                ),
                broker,
            )[0]

        before = contributions(Month(2025, 7), Month(2025, 8), 5)  # 40 messages, in Redis
        gate = Gate(after=3)
        broker.add_middleware(gate)
        worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
        worker.start()
        assert gate.reached.wait(30), "the worker did not start"

        # A crash with the fourth message in the worker's hands (it will fail to
        # acknowledge it until Redis is back) and 36 more queued in Redis only.
        # Counted while the gate still holds the fourth: once open, the worker may finish
        # it (its effect goes to the database, which is up) before this line runs.
        server.stop(kill=True)
        assert count(engine, processed_messages) == 3
        gate.opened.set()
        during = contributions(Month(2025, 9), Month(2025, 9), 10)  # the relay cannot send
        with engine.connect() as conn:
            assert unsent(conn) == len(during.messages) == 20

        server.start()  # same port, same directory: the AOF is read back
        assert relay_all(engine, broker) == 20
        total = len(before.messages) + len(during.messages)

        def finished() -> bool:
            # A fetch cut by the crash leaves a message in this live worker's in-flight set,
            # where Redis gives it to nobody: the scheduler's sweep sends such messages again.
            resend_stale(engine, broker, older_than_s=2)
            relay_all(engine, broker)
            return count(engine, processed_messages) == total

        wait_for(
            finished,
            60,
            "both runs",
            lambda: (
                f"{count(engine, processed_messages)} of {total} processed, "
                f"{server.client().hlen('dramatiq:flexledger.msgs')} in Redis"
            ),
        )
    finally:
        if worker is not None:
            if server.process is None:  # a worker cannot stop while it waits to acknowledge
                server.start()
            worker.stop(timeout=10_000)
        server.stop()

    contribution = entries.c.kind == EntryKind.CONTRIBUTION.value
    assert count(engine, entries, contribution) == MEMBERS * 3
    with engine.connect() as conn:
        twice = conn.execute(
            select(entries.c.member_id, entries.c.period)
            .where(contribution)
            .group_by(entries.c.member_id, entries.c.period)
            .having(func.count() > 1)
        ).all()
        statuses = conn.execute(select(job_messages.c.status).distinct()).scalars().all()
    assert (twice, statuses) == ([], ["done"])
