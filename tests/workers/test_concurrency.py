"""Two workers processing the same members at the same time never post a month twice.

Two threads, released together by a barrier, each run a different message (different
ids, so the processed-messages guard does not apply) over overlapping member lists, on
SQLite and PostgreSQL. On PostgreSQL the two transactions really overlap: the recorder's
append lock orders them and the second finds the first's entries (a replay, or
"already paid" when its payment date differs); SQLite's BEGIN IMMEDIATE orders them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from ledger.config import Settings
from ledger.domain.clock import SystemClock
from ledger.domain.journal import EntryKind
from ledger.store.tables import entries
from ledger.store.worker_tables import job_messages, processed_messages
from workers import actors, runtime
from workers.outbox import message_id

from .conftest import enrol

FIRST, LAST, MONTHS = "2025-07", "2025-12", 6


@pytest.fixture
def rt(engine, empty_database) -> Iterator[runtime.Runtime]:
    yield runtime.configure(
        Settings(database_url=empty_database.url), engine=engine, clock=SystemClock()
    )
    runtime.configure(Settings())


def run_together(*calls) -> list[BaseException]:
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def target(call) -> None:
        try:
            barrier.wait()
            call()
        except BaseException as error:  # reported by the test, in its own thread
            errors.append(error)

    threads = [threading.Thread(target=target, args=(c,)) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.mark.parametrize("second_paid_on", ["2025-12-20", "2025-12-21"])
def test_two_workers_on_the_same_members_post_each_month_exactly_once(engine, rt, second_paid_on):
    members = enrol(engine, 30)
    a, b = message_id("test:a", 0), message_id("test:b", 0)

    def worker_a() -> None:
        actors.post_contributions_batch(
            a, "test:a", "pension", members[:20], FIRST, LAST, "2025-12-20"
        )

    def worker_b() -> None:
        actors.post_contributions_batch(
            b, "test:b", "pension", members[10:], FIRST, LAST, second_paid_on
        )

    assert run_together(worker_a, worker_b) == []
    with engine.connect() as conn:
        per_month = conn.execute(
            select(entries.c.member_id, entries.c.period, func.count())
            .where(entries.c.kind == EntryKind.CONTRIBUTION.value)
            .group_by(entries.c.member_id, entries.c.period)
        ).all()
        outcomes = {
            r.message_id: json.loads(r.outcome) for r in conn.execute(select(processed_messages))
        }
        statuses = conn.execute(select(job_messages.c.status)).scalars().all()
    assert {count for _, _, count in per_month} == {1}
    assert len(per_month) == 30 * MONTHS
    assert {m for m, _, _ in per_month} == set(members)
    # The ten shared members: posted by one message, found paid by the other.
    counts = [outcomes[a]["counts"], outcomes[b]["counts"]]
    assert sum(c.get("posted", 0) for c in counts) == 30
    other = "replayed" if second_paid_on == "2025-12-20" else "already-paid"
    assert sum(c.get(other, 0) for c in counts) == 10
    assert outcomes[a]["posted"] + outcomes[b]["posted"] == 30 * MONTHS
    assert statuses == ["done", "done"]


def test_the_same_message_run_twice_at_once_takes_effect_once(engine, rt):
    members = enrol(engine, 10)
    mid = message_id("test:same", 0)

    def deliver() -> None:
        actors.post_contributions_batch(
            mid, "test:same", "pension", members, FIRST, LAST, "2025-12-20"
        )

    assert run_together(deliver, deliver) == []
    with engine.connect() as conn:
        total = conn.execute(
            select(func.count()).select_from(entries).where(entries.c.kind == "contribution")
        ).scalar_one()
        processed = conn.execute(select(func.count()).select_from(processed_messages)).scalar_one()
    assert (total, processed) == (10 * MONTHS, 1)
