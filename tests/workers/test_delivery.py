"""At-least-once delivery, exactly-once effect: duplicates, retries, dead letters.

Every test runs on the stub broker and on Redis, each on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import date

import dramatiq
import pytest
from sqlalchemy import func, select, update

from ledger.domain.errors import Transient
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.schemes import Scheme
from ledger.operations.payments import contribute
from ledger.store.tables import entries
from ledger.store.worker_tables import job_messages, outbox, processed_messages
from workers import runtime, schedule
from workers.actors import bind
from workers.outbox import QUEUE, enqueue, message_id, progress, relay, relay_all, retry

from .conftest import enrol, join, member_id

MONTHS = (Month(2025, 7), Month(2025, 9))
PAID_ON = date(2025, 10, 10)


def contribution_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(entries)
            .where(entries.c.kind == EntryKind.CONTRIBUTION.value)
        ).scalar_one()


def status_of(engine, mid: str):
    with engine.connect() as conn:
        return conn.execute(select(job_messages).where(job_messages.c.message_id == mid)).one()


def contributions(engine, broker, count: int, size: int = 5):
    enrol(engine, count)
    return schedule.start(
        engine,
        lambda c: schedule.contributions_run(c, Scheme.PENSION, *MONTHS, PAID_ON, size),
        broker,
    )[0]


def test_a_run_posts_every_members_months_once(engine, broker, worker):
    run = contributions(engine, broker, 12)
    join(broker)
    assert contribution_count(engine) == 12 * 3
    state = progress(engine, run.key)
    assert (state["done"], state["failed"], state["posted"]) == (3, 0, 36)


def test_a_message_delivered_twice_posts_once(engine, broker, worker):
    run = contributions(engine, broker, 6)
    with engine.begin() as conn:  # the relay crashed before marking: everything goes again
        conn.execute(update(outbox).values(sent_at=None))
    assert relay_all(engine, broker) == len(run.messages)
    join(broker)
    assert contribution_count(engine) == 6 * 3
    with engine.connect() as conn:
        processed = conn.execute(select(processed_messages.c.outcome)).scalars().all()
        attempts = conn.execute(select(job_messages.c.attempts)).scalars().all()
    assert len(processed) == len(run.messages)
    assert sum(json.loads(o)["posted"] for o in processed) == 18
    assert all(a == 2 for a in attempts)  # both deliveries ran: the second wrote nothing
    assert progress(engine, run.key)["done"] == len(run.messages)


def _declare(broker, name: str, fn):
    dramatiq.actor(bind(fn), actor_name=name, queue_name=QUEUE, broker=broker)


def _send(engine, broker, name: str, run_key: str = "test:flaky") -> str:
    mid = message_id(run_key, 0)
    with engine.begin() as conn:
        enqueue(conn, name, {"run_key": run_key}, mid)
    relay(engine, broker)
    return mid


def _post_one(message_id: str, run_key: str) -> None:
    """Pay one member's month, exactly once per message."""
    with runtime.exactly_once(message_id, "test_actor", run_key) as batch:
        if batch is not None:
            batch.each(
                [member_id(0)],
                lambda m: (
                    "posted",
                    len(
                        contribute(
                            batch.ledger, batch.conn, m, Scheme.PENSION, MONTHS[0], None, PAID_ON
                        )
                    ),
                ),
            )


def test_a_transient_fault_is_retried_with_backoff_until_it_passes(engine, broker, worker):
    enrol(engine, 1)
    failures = [Transient("the bank did not answer"), Transient("still no answer")]

    def flaky(message_id: str, run_key: str) -> None:
        if failures:
            raise failures.pop(0)
        _post_one(message_id, run_key)

    _declare(broker, "flaky", flaky)
    mid = _send(engine, broker, "flaky")
    join(broker)
    row = status_of(engine, mid)
    assert (row.status, row.attempts) == ("done", 3)
    assert "still no answer" in row.last_error  # the last fault stays on record
    assert contribution_count(engine) == 1


def test_a_fault_that_is_not_transient_fails_at_once_and_retry_requeues_it(engine, broker, worker):
    enrol(engine, 1)
    broken = [True]

    def fragile(message_id: str, run_key: str) -> None:
        if broken[0]:
            raise ValueError("a bug")
        _post_one(message_id, run_key)

    _declare(broker, "fragile", fragile)
    mid = _send(engine, broker, "fragile")
    join(broker)
    row = status_of(engine, mid)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "ValueError: a bug")
    assert contribution_count(engine) == 0

    broken[0] = False  # the bug is fixed; the dead letter is re-queued under its own id
    with engine.begin() as conn:
        assert retry(conn, "test:flaky") == [mid]
    assert status_of(engine, mid).status == "queued"
    assert relay(engine, broker) == 1
    join(broker)
    assert (status_of(engine, mid).status, contribution_count(engine)) == ("done", 1)


def test_a_transient_fault_that_never_passes_ends_failed(engine, broker, worker):
    def down(message_id: str, run_key: str) -> None:
        raise Transient("the database is away")

    _declare(broker, "down", down)
    mid = _send(engine, broker, "down")
    join(broker)
    row = status_of(engine, mid)
    assert (row.status, row.attempts) == ("failed", 4)  # the first try and three retries


def test_a_refused_member_is_reported_and_the_rest_of_the_batch_commits(engine, broker, worker):
    members = enrol(engine, 3)
    unknown = member_id(500)  # valid, never registered
    mid = message_id("test:mixed", 0)
    with engine.begin() as conn:
        enqueue(
            conn,
            "post_contributions_batch",
            {
                "run_key": "test:mixed",
                "scheme": "pension",
                "member_ids": [*members[:2], unknown, members[2]],
                "first": "2025-07",
                "last": "2025-07",
                "paid_on_iso": "2025-10-10",
            },
            mid,
        )
    relay(engine, broker)
    join(broker)
    row = status_of(engine, mid)
    assert row.status == "done"
    assert row.last_error.startswith("1 member(s) refused: " + unknown + ": UnknownMember")
    assert contribution_count(engine) == 3
    with engine.connect() as conn:
        outcome = json.loads(conn.execute(select(processed_messages.c.outcome)).scalar_one())
    assert outcome["counts"] == {"posted": 3, "refused": 1}


@pytest.mark.parametrize("paid_on", ["2025-10-10", "2025-10-11"])
def test_two_messages_for_the_same_members_post_each_month_once(engine, broker, worker, paid_on):
    members = enrol(engine, 8)
    with engine.begin() as conn:
        for key, day in (("test:a", "2025-10-10"), ("test:b", paid_on)):
            enqueue(
                conn,
                "post_contributions_batch",
                {
                    "run_key": key,
                    "scheme": "pension",
                    "member_ids": members,
                    "first": "2025-07",
                    "last": "2025-09",
                    "paid_on_iso": day,
                },
                message_id(key, 0),
            )
    relay(engine, broker)
    join(broker)
    assert contribution_count(engine) == 8 * 3
    with engine.connect() as conn:
        outcomes = [
            json.loads(o) for o in conn.execute(select(processed_messages.c.outcome)).scalars()
        ]
    counts = sorted(tuple(sorted(o["counts"].items())) for o in outcomes)
    other = "replayed" if paid_on == "2025-10-10" else "already-paid"
    assert sorted([(("posted", 8),), ((other, 8),)]) == counts
