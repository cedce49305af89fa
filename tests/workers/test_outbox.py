"""The transactional outbox, on the stub broker and on Redis, SQLite and PostgreSQL.

Given messages written in a transaction, when it commits they are relayed; when it rolls
back nothing is sent; when the broker is down they wait in the outbox and a later relay
sends them; the same run written twice is one set of messages.
"""

from __future__ import annotations

from datetime import date

import pytest
import redis
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from ledger.domain.period import Month
from ledger.domain.schemes import Scheme
from ledger.store.worker_tables import job_messages, outbox
from workers import schedule
from workers.outbox import (
    QUEUE,
    enqueue,
    message_id,
    relay,
    relay_all,
    resend_stale,
    unsent,
)

from .conftest import enrol


def in_broker(broker) -> int:
    """Messages the broker holds for the queue (not yet consumed)."""
    if isinstance(broker, StubBroker):
        return broker.queues[QUEUE].qsize() if QUEUE in broker.queues else 0
    return broker.client.hlen(f"dramatiq:{QUEUE}.msgs")


def write(engine, count: int, run_key: str = "test:run") -> list[str]:
    ids = [message_id(run_key, i) for i in range(count)]
    with engine.begin() as conn:
        for i, mid in enumerate(ids):
            enqueue(conn, "post_contributions_batch", {"run_key": run_key, "part": i}, mid)
    return ids


def test_message_ids_derive_from_the_run_and_the_part_only():
    assert message_id("bank-deduction:2025", 3) == message_id("bank-deduction:2025", "3")
    assert message_id("bank-deduction:2025", 3) != message_id("bank-deduction:2025", 4)
    assert message_id("bank-deduction:2025", 3) != message_id("bank-deduction:2026", 3)


def test_messages_are_relayed_after_commit_and_marked_sent(engine, broker):
    write(engine, 3)
    assert in_broker(broker) == 0  # committed, not yet relayed: nothing sent before relay
    assert relay(engine, broker) == 3
    assert in_broker(broker) == 3
    with engine.connect() as conn:
        assert unsent(conn) == 0
        statuses = conn.execute(select(job_messages.c.status)).scalars().all()
    assert statuses == ["queued"] * 3
    assert relay(engine, broker) == 0  # nothing twice


def test_a_rolled_back_transaction_sends_nothing(engine, broker):
    with pytest.raises(RuntimeError), engine.begin() as conn:
        enqueue(conn, "post_contributions_batch", {"run_key": "r"}, message_id("r", 0))
        raise RuntimeError("the cause failed")
    assert relay(engine, broker) == 0
    assert in_broker(broker) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(job_messages)).scalar_one() == 0


def test_a_broker_that_is_down_delays_messages_and_never_loses_them(engine, broker, monkeypatch):
    write(engine, 4)
    real = broker.enqueue
    accepted: list[str] = []

    def flaky(message, **kw):  # the broker takes two messages, then goes away
        if len(accepted) == 2:
            raise redis.ConnectionError("connection refused")
        accepted.append(message.message_id)
        return real(message, **kw)

    monkeypatch.setattr(broker, "enqueue", flaky)
    assert relay(engine, broker) == 2
    with engine.connect() as conn:
        assert unsent(conn) == 2
    monkeypatch.setattr(broker, "enqueue", real)  # the broker is back
    assert relay_all(engine, broker) == 2
    assert in_broker(broker) == 4
    with engine.connect() as conn:
        assert unsent(conn) == 0


def test_the_same_run_written_twice_is_one_set_of_messages(engine, broker):
    enrol(engine, 25)
    build = lambda c: schedule.contributions_run(  # noqa: E731
        c, Scheme.PENSION, Month(2025, 7), Month(2025, 8), date(2025, 9, 1), 10
    )
    run, written = schedule.start(engine, build, broker)
    again, written_again = schedule.start(engine, build, broker)
    assert (len(run.messages), written, written_again) == (3, 3, 0)
    assert again.key == run.key == "contributions:pension:2025-07:2025-08:2025-09-01"
    assert [len(m["member_ids"]) for m in run.messages] == [10, 10, 5]
    assert run.messages[0]["member_ids"] == sorted(run.messages[0]["member_ids"])
    assert in_broker(broker) == 3
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 3


def test_messages_lost_by_the_broker_are_sent_again_once_its_queue_is_empty(engine, broker):
    write(engine, 2)
    relay(engine, broker)
    assert resend_stale(engine, broker, older_than_s=0) == 0  # still waiting in the broker
    broker.flush(QUEUE)  # lost: a Redis without persistence restarted
    assert resend_stale(engine, broker, older_than_s=3600) == 0  # not stale yet
    assert resend_stale(engine, broker, older_than_s=0) == 2
    assert relay_all(engine, broker) == 2
    assert in_broker(broker) == 2
