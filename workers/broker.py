"""The broker, from configuration: Redis when ``FLEXLEDGER_REDIS_URL`` is set, else in-process.

``configure(settings)`` builds the broker, sets it as dramatiq's global one and returns it.
``workers.app.start`` calls it at start-up, then declares the actors on the broker it
returns. Nothing connects here: the Redis client connects on its first command.

Middleware, in order: dramatiq's defaults (age and time limits, shutdown notices,
callbacks, pipelines), ``CurrentMessage`` (actors read their message id),
``JobStatus`` (the ``job_messages`` rows), ``FewerCollections`` (the garbage collector
while a worker runs), then ``Retries``. Hooks run in reverse order
after a message, so ``JobStatus`` sees what ``Retries`` decided: a message it gave up on
is ``failed`` (the dead-letter list), one it will retry goes back to ``queued``.

Only transient faults are retried, with exponential backoff: ``Transient`` and its
subclasses, the bank's ``BankUnavailable``, ``sqlalchemy.exc.OperationalError`` (the
database went away, a serialisation failure, a deadlock), ``DatabaseUnavailable`` and
Redis connection errors. Anything else (a refusal by a rule, a bug) fails the message at
once: retrying cannot change the answer.

Tuning, read once by ``BrokerOptions.from_env`` when ``configure`` runs:
``FLEXLEDGER_MAX_RETRIES`` (10), ``FLEXLEDGER_RETRY_MIN_BACKOFF_MS`` (1000),
``FLEXLEDGER_RETRY_MAX_BACKOFF_MS`` (600000), and for Redis
``FLEXLEDGER_REDIS_HEARTBEAT_TIMEOUT_MS`` (60000: a worker silent that long is dead and
its unacknowledged messages are redelivered) and ``FLEXLEDGER_REDIS_MAINTENANCE_PER_MILLION``
(1000: how many broker commands in a million look for dead workers' messages), and
``FLEXLEDGER_RESEND_AFTER_MS`` (1800000: a message sent but not started that long, with
the broker's queue empty, is sent again by the scheduler's relay: see
``workers.outbox.resend_stale``; it must exceed the longest retry backoff).
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from ledger.config import Settings
from workers.faults import is_transient


@dataclass(frozen=True)
class BrokerOptions:
    """Retry and Redis tuning; times in milliseconds."""

    max_retries: int = 10
    min_backoff_ms: int = 1_000
    max_backoff_ms: int = 600_000
    heartbeat_timeout_ms: int = 60_000
    maintenance_per_million: int = 1_000
    resend_after_ms: int = 1_800_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BrokerOptions:
        env = os.environ if env is None else env
        names = {
            "max_retries": "FLEXLEDGER_MAX_RETRIES",
            "min_backoff_ms": "FLEXLEDGER_RETRY_MIN_BACKOFF_MS",
            "max_backoff_ms": "FLEXLEDGER_RETRY_MAX_BACKOFF_MS",
            "heartbeat_timeout_ms": "FLEXLEDGER_REDIS_HEARTBEAT_TIMEOUT_MS",
            "maintenance_per_million": "FLEXLEDGER_REDIS_MAINTENANCE_PER_MILLION",
            "resend_after_ms": "FLEXLEDGER_RESEND_AFTER_MS",
        }
        found = {field: int(env[name]) for field, name in names.items() if env.get(name)}
        return replace(cls(), **found)


class JobStatus(Middleware):
    """Keeps ``job_messages`` up to date: running before an attempt, and after a failed one
    ``failed`` (given up) or ``queued`` (a retry is scheduled). ``done`` is written by the
    actor itself, in the transaction of its effect (``workers.runtime.exactly_once``).

    Best effort: if the database is down the status write is logged and skipped; the
    message itself is unaffected (its own transaction fails and is retried).
    """

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        from workers import outbox, runtime

        with runtime.current().engine().begin() as conn:
            outbox.mark(
                conn,
                message.message_id,
                "running",
                attempt=True,
                run_key=str(message.kwargs.get("run_key", "")),
                job=message.actor_name,
            )

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        if exception is None:
            return
        from workers import outbox, runtime

        status = "failed" if message.failed else "queued"
        with runtime.current().engine().begin() as conn:
            outbox.mark(
                conn,
                message.message_id,
                status,
                error=f"{type(exception).__name__}: {exception}",
                run_key=str(message.kwargs.get("run_key", "")),
                job=message.actor_name,
            )


class FewerCollections(Middleware):
    """While a worker runs in this process, CPython's cyclic collector runs less often.

    A message's batch builds and drops hundreds of thousands of objects at once (drafts,
    rows, results), all freed by reference counting when the batch ends. At the default
    threshold (a collection every 700 net allocations) those objects outlive the young
    collections, are promoted, and set off full collections of the whole heap every few
    batches: 4.7 s of a 35 s simulation of 2,000 members over 10 years. With
    ``GEN0_THRESHOLD`` the young generation is collected every 50,000 allocations and a
    batch's objects are mostly gone before any collection sees them; cycles are still
    collected, a little later. The previous thresholds come back when the process's last
    worker stops (an embedded worker in a longer-lived process, tests).
    """

    GEN0_THRESHOLD = 50_000
    _lock = threading.Lock()
    _running: ClassVar[set[int]] = set()  # ids of the workers booted and not yet stopped
    _saved: ClassVar[tuple[int, int, int] | None] = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        cls = FewerCollections
        with cls._lock:
            if not cls._running:
                cls._saved = gc.get_threshold()
                gc.set_threshold(cls.GEN0_THRESHOLD, *cls._saved[1:])
            cls._running.add(id(worker))

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        cls = FewerCollections
        with cls._lock:
            if id(worker) not in cls._running:  # stopped twice
                return
            cls._running.discard(id(worker))
            if not cls._running and cls._saved is not None:
                gc.set_threshold(*cls._saved)
                cls._saved = None


def _retry_when(max_retries: int):
    def retry_when(retries: int, error: BaseException) -> bool:
        return retries < max_retries and is_transient(error)

    return retry_when


def middleware(options: BrokerOptions) -> list[Middleware]:
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        CurrentMessage(),
        JobStatus(),
        FewerCollections(),
        Retries(
            max_retries=options.max_retries,
            min_backoff=options.min_backoff_ms,
            max_backoff=options.max_backoff_ms,
            retry_when=_retry_when(options.max_retries),
        ),
    ]


def configure(settings: Settings, options: BrokerOptions | None = None) -> dramatiq.Broker:
    """Build the broker ``settings`` asks for, make it dramatiq's global broker, return it."""
    options = options or BrokerOptions.from_env()
    broker: dramatiq.Broker
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(
            url=settings.redis_url,
            middleware=middleware(options),
            heartbeat_timeout=options.heartbeat_timeout_ms,
            maintenance_chance=options.maintenance_per_million,
        )
    else:
        broker = StubBroker(middleware=middleware(options))
    dramatiq.set_broker(broker)
    return broker


def is_embedded(broker: dramatiq.Broker) -> bool:
    return isinstance(broker, StubBroker)
