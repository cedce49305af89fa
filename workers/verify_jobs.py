"""A verify run as a job: started over the API, done in the background, its status durable.

Starting one (``start``) writes an outbox message for the ``verify_ledger`` actor and its
``job_messages`` row (``queued``) in the caller's transaction, so a job the API answered
202 for exists even if the server stops before it runs. The job id is the message id.

Doing one (``run``): ``verify`` reads the whole chain on its own AUTOCOMMIT connection
(on SQLite a long read holds no write lock), then ONE short transaction claims the
message in ``processed_messages``, writes the ``verify_runs`` row, records its id as the
message's outcome and marks the message ``done``. A message delivered twice verifies
twice (a read) but writes its run once: the second claim finds the first.

Who does it: with Redis, ``flexledger worker`` (the actor in ``workers.actors``); without,
the API process itself (``ledger.api.jobs``). ``status`` reads what either left behind.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledger.domain import keys
from ledger.domain.clock import Clock, as_utc
from ledger.store import access
from ledger.store.verify import verify
from ledger.store.worker_tables import job_messages, outbox, processed_messages
from ledger.views import verify_view
from workers import outbox as messages

ACTOR = "verify_ledger"


def start(
    conn: Connection, token_id: int, now: datetime, key: str | None = None
) -> tuple[str, str, bool]:
    """Write a verify job for ``token_id``; returns its id, its run key and whether it
    was written now (False: that key's job exists already).

    ``key`` (an ``Idempotency-Key``): the same token and key name the same job, written
    once; without one every start is a new job.
    """
    part = f"{token_id}/{key}" if key is not None else uuid.uuid4().hex
    run_key = keys.verify_run(part)
    job_id = messages.message_id(run_key, "verify")
    written = messages.enqueue(
        conn, ACTOR, {"run_key": run_key, "token_id": token_id}, job_id, run_key=run_key, now=now
    )
    return job_id, run_key, written


def _claim(conn: Connection, job_id: str, now: datetime) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    claimed = conn.execute(
        dialect.insert(processed_messages)
        .values(message_id=job_id, actor_name=ACTOR, processed_at=now)
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(processed_messages.c.message_id)
    ).first()
    return claimed is not None


def run(engine: Engine, clock: Clock, job_id: str, run_key: str, token_id: int) -> int | None:
    """Verify the ledger and record the run; the ``verify_runs`` id, or None if the job
    was done already (nothing written)."""
    with engine.connect() as conn:
        done = conn.execute(
            select(processed_messages.c.message_id).where(processed_messages.c.message_id == job_id)
        ).first()
    if done is not None:
        return None
    started = clock.now()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        result = verify_view(verify(conn))
    with engine.begin() as conn:
        if not _claim(conn, job_id, clock.now()):
            return None
        run_id = access.record_verify_run(conn, token_id, started, clock.now(), result)
        conn.execute(
            update(processed_messages)
            .where(processed_messages.c.message_id == job_id)
            .values(outcome=json.dumps({"verify_run": run_id}))
        )
        messages.mark(conn, job_id, "done", run_key=run_key, job=ACTOR)
    return run_id


def status(conn: Connection, job_id: str) -> dict[str, Any] | None:
    """A verify job's state: queued, running, done or failed, and its run once done."""
    row = conn.execute(
        select(
            job_messages.c.status,
            job_messages.c.attempts,
            job_messages.c.last_error,
            outbox.c.created_at,
            outbox.c.args,
            processed_messages.c.outcome,
        )
        .join(outbox, outbox.c.message_id == job_messages.c.message_id)
        .outerjoin(processed_messages, processed_messages.c.message_id == job_messages.c.message_id)
        .where(job_messages.c.message_id == job_id, job_messages.c.job == ACTOR)
    ).first()
    if row is None:
        return None
    outcome = json.loads(row.outcome) if row.outcome else {}
    run_id = outcome.get("verify_run")
    result = access.verify_run(conn, int(run_id)) if run_id is not None else None
    return {
        "job": job_id,
        "status": row.status,
        "requested_at": as_utc(row.created_at).isoformat(),
        "by_token": json.loads(row.args)["token_id"],
        "attempts": row.attempts,
        "error": row.last_error,
        "result": result,
    }


def unfinished(conn: Connection) -> list[tuple[str, str, int]]:
    """Verify jobs not done nor failed, oldest first: (job id, run key, token id)."""
    rows = conn.execute(
        select(job_messages.c.message_id, job_messages.c.run_key, outbox.c.args)
        .join(outbox, outbox.c.message_id == job_messages.c.message_id)
        .where(job_messages.c.job == ACTOR, job_messages.c.status.in_(("queued", "running")))
        .order_by(outbox.c.id)
    )
    return [(r.message_id, r.run_key, int(json.loads(r.args)["token_id"])) for r in rows]
