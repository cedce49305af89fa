"""The transactional outbox and the job-message statuses.

Invariants:
- a message is written (``enqueue``) in the caller's transaction, together with whatever
  caused it: a rolled-back transaction sends nothing, a committed one is sent at least
  once, by ``relay`` after the commit;
- message ids are deterministic (``message_id``: uuid5 of the run key and the part), and
  ``outbox.message_id`` is unique: enqueuing the same run twice writes nothing twice;
- ``relay`` marks a row sent only after the broker took the message; a broker that is
  down leaves the rows unsent, and the next relay sends them (delayed, never lost). A
  crash between the broker taking a message and the mark sends it again: delivery is at
  least once, and the actors' ``processed_messages`` makes the effect once;
- ``job_messages`` follows every message: ``queued`` (here), ``running``/``done``/``failed``
  (``workers.runtime``); ``retry`` puts failed messages back to ``queued`` and clears
  their ``sent_at``, keeping their ids, so a message retried after all is still done once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledger.store.worker_tables import job_messages, outbox, processed_messages

QUEUE = "flexledger"
NAMESPACE = uuid.UUID("6f1c5e2a-6c0b-5d6e-9d53-0b1f6a6c2e11")
ERROR_CHARS = 2000

# dramatiq 2 renamed ConnectionError to BrokerConnectionError.
BROKER_CONNECTION_ERROR: type[Exception] = (
    getattr(dramatiq.errors, "BrokerConnectionError", None) or dramatiq.errors.ConnectionError
)

# Errors that mean "the broker is not there now": the row stays unsent for the next relay.
try:  # pragma: no cover - redis is a dependency; the guard keeps the stub usable alone
    from redis.exceptions import ConnectionError as _RedisConnectionError
    from redis.exceptions import TimeoutError as _RedisTimeoutError

    BROKER_DOWN: tuple[type[BaseException], ...] = (
        BROKER_CONNECTION_ERROR,
        _RedisConnectionError,
        _RedisTimeoutError,
    )
except ImportError:  # pragma: no cover
    BROKER_DOWN = (BROKER_CONNECTION_ERROR,)


def now_utc() -> datetime:
    return datetime.now(UTC)


def message_id(run_key: str, part: str | int) -> str:
    """The id of part ``part`` of run ``run_key``: the same inputs, the same id, anywhere."""
    return str(uuid.uuid5(NAMESPACE, f"{run_key}/{part}"))


def _insert(conn: Connection, table):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def enqueue(
    conn: Connection,
    actor_name: str,
    kwargs: Mapping[str, Any],
    message_id: str,
    *,
    run_key: str | None = None,
    queue_name: str = QUEUE,
    now: datetime | None = None,
) -> bool:
    """Write a message in the caller's transaction; False if that id was written before.

    ``kwargs`` must be JSON primitives (ids, numbers, strings, lists of them): a message
    carries ids, never objects. ``run_key`` defaults to ``kwargs["run_key"]``.
    """
    run_key = run_key if run_key is not None else str(kwargs["run_key"])
    now = now or now_utc()
    written = conn.execute(
        _insert(conn, outbox)
        .values(
            message_id=message_id,
            queue_name=queue_name,
            actor_name=actor_name,
            args=json.dumps(dict(kwargs), sort_keys=True),
            run_key=run_key,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(outbox.c.id)
    ).first()
    if written is not None:
        conn.execute(
            _insert(conn, job_messages)
            .values(
                message_id=message_id,
                run_key=run_key,
                job=actor_name,
                status="queued",
                attempts=0,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["message_id"])
        )
    return written is not None


def unsent(conn: Connection) -> int:
    return conn.execute(
        select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
    ).scalar_one()


def relay(engine: Engine, broker: dramatiq.Broker, limit: int = 500) -> int:
    """Send up to ``limit`` unsent rows, oldest first, marking them sent; returns how many.

    Stops at the first broker error, keeping that row and the rest unsent. On PostgreSQL
    concurrent relays skip each other's rows (``FOR UPDATE SKIP LOCKED``); on SQLite they
    take turns on the write lock. The rows are marked before they are handed over, in the
    same transaction (so a crash before the commit still leaves them unsent), and the
    transaction commits as soon as the last one is: on SQLite a worker that takes a
    message at once waits for this write lock before it can record that it is running.
    """
    with engine.begin() as conn:
        query = select(outbox).where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(limit)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = conn.execute(query).all()
        if not rows:
            return 0
        ids = [row.id for row in rows]
        conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(sent_at=now_utc()))
        for sent, row in enumerate(rows):
            if row.queue_name not in broker.get_declared_queues():
                broker.declare_queue(row.queue_name)
            message = dramatiq.Message(
                queue_name=row.queue_name,
                actor_name=row.actor_name,
                args=(),
                kwargs=json.loads(row.args),
                options={},
                message_id=row.message_id,
            )
            try:
                broker.enqueue(message)
            except BROKER_DOWN:
                conn.execute(update(outbox).where(outbox.c.id.in_(ids[sent:])).values(sent_at=None))
                return sent
    return len(rows)


def relay_all(engine: Engine, broker: dramatiq.Broker, limit: int = 500) -> int:
    """Relay until nothing is left to send or the broker refuses; returns how many were sent."""
    total = 0
    while True:
        count = relay(engine, broker, limit)
        total += count
        if count < limit:
            return total


def broker_idle(broker: dramatiq.Broker, queue_name: str = QUEUE) -> bool:
    """True when the broker holds no message waiting in the queue or its delay queue."""
    names = (queue_name, f"{queue_name}.DQ")
    if hasattr(broker, "client"):  # Redis: the queues are lists of message ids
        return all(broker.client.llen(f"{broker.namespace}:{n}") == 0 for n in names)
    return all(n not in broker.queues or broker.queues[n].unfinished_tasks == 0 for n in names)


def resend_stale(engine: Engine, broker: dramatiq.Broker, older_than_s: float) -> int:
    """Hand again messages sent but never started, once the broker's queue is empty.

    A message can be stuck where no worker will take it: Redis moved it to a worker's
    in-flight set and the connection broke before the worker received it (it comes back
    only when that worker dies), or a Redis without persistence restarted. A message still
    ``queued`` ``older_than_s`` after its last change, with nothing waiting in the broker,
    is such a message: clearing ``sent_at`` makes the relay send it again under the same
    id (its effect stays once). ``older_than_s`` must exceed the longest retry backoff,
    or a message waiting for its retry would be sent twice (harmless, but wasted).
    Returns how many rows were marked for the relay.
    """
    if not broker_idle(broker):
        return 0
    cutoff = now_utc() - timedelta(seconds=older_than_s)
    with engine.begin() as conn:
        ids = list(
            conn.execute(
                select(job_messages.c.message_id)
                .join(outbox, outbox.c.message_id == job_messages.c.message_id)
                .where(job_messages.c.status == "queued", job_messages.c.updated_at < cutoff)
                .where(outbox.c.sent_at.is_not(None))
            ).scalars()
        )
        for chunk in _chunks(ids):
            conn.execute(
                update(job_messages)
                .where(job_messages.c.message_id.in_(chunk))
                .values(updated_at=now_utc())
            )
            conn.execute(update(outbox).where(outbox.c.message_id.in_(chunk)).values(sent_at=None))
    return len(ids)


# --- job statuses ----------------------------------------------------------------------


def mark(
    conn: Connection,
    message_id: str,
    status: str,
    *,
    run_key: str = "",
    job: str = "",
    error: str | None = None,
    attempt: bool = False,
) -> None:
    """Set a message's status (creating its row if it was sent without the outbox).

    ``attempt`` counts one more delivery; ``error`` replaces the last error (None keeps it).
    """
    now = now_utc()
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if error is not None:
        values["last_error"] = error[:ERROR_CHARS]
    if attempt:
        values["attempts"] = job_messages.c.attempts + 1
    found = conn.execute(
        update(job_messages)
        .where(job_messages.c.message_id == message_id)
        .values(**values)
        .returning(job_messages.c.message_id)
    ).first()
    if found is None:
        conn.execute(
            _insert(conn, job_messages)
            .values(
                message_id=message_id,
                run_key=run_key,
                job=job,
                status=status,
                attempts=1 if attempt else 0,
                last_error=values.get("last_error"),
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["message_id"])
        )


def retry(conn: Connection, run_key: str | None = None) -> list[str]:
    """Put failed messages (of one run, or all) back to ``queued`` for the relay to resend."""
    query = select(job_messages.c.message_id).where(job_messages.c.status == "failed")
    if run_key is not None:
        query = query.where(job_messages.c.run_key == run_key)
    ids = list(conn.execute(query.order_by(job_messages.c.message_id)).scalars())
    for chunk in _chunks(ids):
        conn.execute(
            update(job_messages)
            .where(job_messages.c.message_id.in_(chunk))
            .values(status="queued", updated_at=now_utc())
        )
        conn.execute(update(outbox).where(outbox.c.message_id.in_(chunk)).values(sent_at=None))
    return ids


def run_summary(conn: Connection, run_key: str | None = None) -> list[dict[str, Any]]:
    """Per run: message counts by status and the entries the done messages posted."""
    query = select(job_messages.c.run_key, job_messages.c.status, func.count()).group_by(
        job_messages.c.run_key, job_messages.c.status
    )
    if run_key is not None:
        query = query.where(job_messages.c.run_key == run_key)
    runs: dict[str, dict[str, Any]] = {}
    for key, status, count in conn.execute(query):
        run = runs.setdefault(
            key,
            {"run": key, **dict.fromkeys(("queued", "running", "done", "failed"), 0), "posted": 0},
        )
        run[status] = count
    outcomes = select(job_messages.c.run_key, processed_messages.c.outcome).join(
        processed_messages, processed_messages.c.message_id == job_messages.c.message_id
    )
    if run_key is not None:
        outcomes = outcomes.where(job_messages.c.run_key == run_key)
    for key, outcome in conn.execute(outcomes):
        if key in runs and outcome:
            runs[key]["posted"] += int(json.loads(outcome).get("posted", 0))
    return [runs[k] for k in sorted(runs)]


def messages_with_errors(
    conn: Connection, run_key: str | None = None, status: str = "failed"
) -> list[dict[str, Any]]:
    """Messages in ``status`` that carry an error: ``failed`` ones (the dead letters), or
    ``done`` ones whose batch refused some members (the rest of the batch committed)."""
    query = select(job_messages).where(job_messages.c.status == status)
    if status != "failed":
        query = query.where(job_messages.c.last_error.is_not(None))
    if run_key is not None:
        query = query.where(job_messages.c.run_key == run_key)
    return [
        {
            "message_id": r.message_id,
            "run": r.run_key,
            "job": r.job,
            "attempts": r.attempts,
            "last_error": r.last_error,
        }
        for r in conn.execute(query.order_by(job_messages.c.run_key, job_messages.c.message_id))
    ]


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def progress(engine: Engine, run_key: str) -> dict[str, Any]:
    """One run's counts by status and entries posted (zeros for a run never written)."""
    with engine.connect() as conn:
        found = run_summary(conn, run_key)
    return (
        found[0]
        if found
        else {"run": run_key, "queued": 0, "running": 0, "done": 0, "failed": 0, "posted": 0}
    )
