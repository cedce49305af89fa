"""Who does the API's jobs once they are written (``workers.verify_jobs.start``).

- ``Relayed`` (Redis configured): the message is handed to the broker after the request's
  transaction commits; a ``flexledger worker`` runs the ``verify_ledger`` actor. If the
  broker is down the outbox row stays unsent and the scheduler's relay sends it later.
- ``InProcess`` (no Redis, the embedded default): one background thread of the server
  runs the jobs one at a time. A job is marked ``running`` before and ``failed`` (with the
  exception's type only: its message may quote a URL; the log gets where it was raised) after
  an error. ``resume`` runs the
  jobs a stopped server left queued or running; ``flexledger serve`` calls it at start.
"""

from __future__ import annotations

import logging
import traceback
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, update

from ledger.domain.clock import Clock
from ledger.store.worker_tables import outbox
from workers import outbox as messages
from workers import verify_jobs

log = logging.getLogger("flexledger.api")


class InProcess:
    """Runs verify jobs on one thread of this process."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flexledger-job")
        self._futures: list[Future[Any]] = []

    def submit(self, job_id: str, run_key: str, token_id: int) -> None:
        with self.engine.begin() as conn:  # no broker will take it: mark it handed over
            conn.execute(
                update(outbox)
                .where(outbox.c.message_id == job_id, outbox.c.sent_at.is_(None))
                .values(sent_at=datetime.now(UTC))
            )
        self._futures.append(self._pool.submit(self._run, job_id, run_key, token_id))

    def _run(self, job_id: str, run_key: str, token_id: int) -> None:
        try:
            with self.engine.begin() as conn:
                messages.mark(
                    conn, job_id, "running", attempt=True, run_key=run_key, job=verify_jobs.ACTOR
                )
            verify_jobs.run(self.engine, self.clock, job_id, run_key, token_id)
        except Exception as exc:
            where = "".join(traceback.format_tb(exc.__traceback__)[-3:])
            log.error("verify job %s failed: %s in\n%s", job_id, type(exc).__name__, where)
            with self.engine.begin() as conn:
                messages.mark(
                    conn,
                    job_id,
                    "failed",
                    error=type(exc).__name__,
                    run_key=run_key,
                    job=verify_jobs.ACTOR,
                )

    def resume(self) -> int:
        """Run again the jobs left queued or running; returns how many."""
        with self.engine.connect() as conn:
            left = verify_jobs.unfinished(conn)
        for job_id, run_key, token_id in left:
            self.submit(job_id, run_key, token_id)
        return len(left)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the jobs submitted so far (tests, shutdown)."""
        wait(self._futures, timeout=timeout)
        self._futures = [f for f in self._futures if not f.done()]

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class Relayed:
    """Hands jobs to the broker; the workers run them."""

    def __init__(self, engine: Engine, broker: Any) -> None:
        self.engine = engine
        self.broker = broker

    def submit(self, job_id: str, run_key: str, token_id: int) -> None:
        try:
            messages.relay_all(self.engine, self.broker)
        except Exception as exc:  # the row stays unsent: the scheduler's relay sends it
            log.error("verify job %s not relayed yet: %s", job_id, type(exc).__name__)

    def resume(self) -> int:
        return 0

    def join(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


__all__ = ["InProcess", "Relayed"]
