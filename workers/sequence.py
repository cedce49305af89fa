"""Running planned runs through the workers one message at a time, in order: a simulation.

A production run fans out: its batches go to whichever worker is free, in any order, and
that is right for a bank run. A simulation needs more: "the same seed gives the same
ledger, entry for entry", and the journal is one hash chain whose ids follow the order
entries were appended. So a ``Sequencer`` writes a run's messages to the outbox one at a
time, each carrying the story's time (``at_iso``), relays it and waits until it is done
(with whatever it chained, such as a transfer's ``accept``) before writing the next.
Within a message a worker still does the whole batch in one bulk pass; the messages are
the production actors' own, through the outbox, ``processed_messages`` and
``job_messages`` as any run.

- embedded (no ``FLEXLEDGER_REDIS_URL``): one in-process dramatiq worker, started once
  for the whole simulation, on the stub broker; waiting is the broker's ``join``;
- Redis: the messages go to Redis and any ``flexledger worker`` process takes them; the
  sequencer polls the run's ``job_messages`` (and relays) until the message is done.

A message that fails (a bug, a rule refusing a whole batch) stops the simulation with
the worker's error: a story with a hole in it is not the story the seed describes.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import dramatiq
from sqlalchemy import Engine, select

from ledger.config import Settings
from ledger.domain.errors import SimulationStepFailed
from ledger.store.worker_tables import job_messages
from workers import outbox
from workers.app import start
from workers.broker import is_embedded
from workers.schedule import Run

POLL_SECONDS = 0.002
MAX_POLL_SECONDS = 0.1
STALL_SECONDS = 30

logger = logging.getLogger(__name__)


class Sequencer:
    """Sends runs' messages one by one through the configured broker and its workers."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.engine = engine
        self.broker, _ = start(settings, engine=engine)
        self.embedded = is_embedded(self.broker)
        self.messages = 0
        self._worker: dramatiq.Worker | None = None
        if self.embedded:
            self._worker = dramatiq.Worker(self.broker, worker_threads=1, worker_timeout=50)
            self._worker.start()

    def send(self, run: Run, at: datetime) -> None:
        """Every message of ``run``, in order, each done (with its follow-ups) before the next."""
        for message_id, kwargs in zip(run.message_ids(), run.messages, strict=True):
            with self.engine.begin() as conn:
                new = outbox.enqueue(
                    conn,
                    run.actor,
                    {**kwargs, "at_iso": at.isoformat()},
                    message_id,
                    run_key=run.key,
                )
            if not new:
                # Its id was written before: it would be skipped, and the story with it.
                raise SimulationStepFailed(f"message {message_id} of run {run.key} exists already")
            outbox.relay_all(self.engine, self.broker)
            self._wait(run.key)
            self.messages += 1
            self._check(run.key)

    def _wait(self, run_key: str) -> None:
        if self.embedded:
            self.broker.join(outbox.QUEUE, fail_fast=False)  # type: ignore[call-arg]
            return
        began, warned, pause = time.monotonic(), False, POLL_SECONDS
        while True:
            outbox.relay_all(self.engine, self.broker)
            state = outbox.progress(self.engine, run_key)
            if state["queued"] == 0 and state["running"] == 0:
                return
            if not warned and state["running"] == 0 and time.monotonic() - began > STALL_SECONDS:
                logger.warning(
                    "no worker has taken a message of %s for %d s: is `flexledger worker` "
                    "running on this Redis and database? (waiting)",
                    run_key,
                    STALL_SECONDS,
                )
                warned = True
            time.sleep(pause)
            # Quick for a small message, not hundreds of polls a second for a long batch.
            pause = min(pause * 2, MAX_POLL_SECONDS)

    def _check(self, run_key: str) -> None:
        with self.engine.connect() as conn:
            failed = conn.execute(
                select(job_messages.c.message_id, job_messages.c.last_error).where(
                    job_messages.c.run_key == run_key, job_messages.c.status == "failed"
                )
            ).first()
        if failed is not None:
            raise SimulationStepFailed(
                f"message {failed.message_id} of run {run_key} failed: {failed.last_error}"
            )

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def __enter__(self) -> Sequencer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
