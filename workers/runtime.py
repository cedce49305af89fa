"""What a worker process needs: its own engine, a ledger per thread, one transaction per message.

Invariants:
- engines are never inherited: ``Runtime.engine`` remembers the pid that created it and
  opens a new one (leaving the parent's connections alone) in a forked child; it opens the
  database with ``open_engine``, so a worker refuses a database not at the head revision;
- a ``Ledger`` per thread: its recorder caches account ids per transaction, which is not
  safe to share between threads that commit independently;
- exactly-once effect (``exactly_once``): a message's effect, its ``processed_messages``
  row and its ``done`` status commit in ONE transaction. The row is claimed first
  (INSERT … ON CONFLICT DO NOTHING): a concurrent duplicate waits on the primary key until
  the first commits and then finds the message done; a redelivered one finds it at once.
  Either way it writes nothing; the entries' idempotency keys are the second guard;
- a batch is decided before it is written: each item's refusal is an answer
  (``Batch.tally``), reported in the message's outcome and ``job_messages.last_error``
  while the rest commit; retrying would not change it. A write refused by the database
  (another worker wrote a key meanwhile: ``WriteRaced``) rolls the message back whole, and
  it is done again at once on fresh facts (``retried_on_race``). A transient fault
  (database, bank timeout) aborts the whole message, retried with backoff: nothing of it
  was committed;
- ``Batch.each`` runs a handler per item in a SAVEPOINT (today only the late-adjustment
  run's one call, itself one pass over the day's windows).

``drain`` runs an embedded (in-process) worker until the queue is empty; ``wait`` follows
a run done by Redis workers, relaying (and re-sending lost messages) while it waits.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import dramatiq
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledger.config import Settings
from ledger.domain.clock import Clock, SystemClock, as_utc
from ledger.domain.errors import BadInput, LedgerError, WriteRaced
from ledger.operations.bank import SimulatedBank
from ledger.operations.services import Ledger
from ledger.store.db import open_engine
from ledger.store.tables import simulations
from ledger.store.worker_tables import processed_messages
from workers import outbox
from workers.faults import is_transient


class MessageClock:
    """The runtime's clock, except while a message that carries its own time runs.

    A simulation's messages carry the story's time (``at_iso``): the entries they post are
    recorded when they happened in the story, as the simulation's own clock would record
    them. Production schedules never set it, and a ledger without a ``simulations`` row
    refuses such a message (``exactly_once``); the recorder refuses a time before the last
    entry's either way, so a message can never record into the past.
    """

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.at: datetime | None = None

    def now(self) -> datetime:
        return self.at if self.at is not None else self.base.now()


class Runtime:
    """One process's engine and per-thread ledgers, created lazily in the process using them."""

    def __init__(
        self, settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self._engine = engine
        self._owned = engine is None  # an engine given by the caller is the caller's to dispose
        self._pid = os.getpid() if engine is not None else None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._banks: dict[tuple[int, str | None], Any] = {}

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                if self._engine is not None:
                    # Inherited through fork: its pooled connections are the parent's.
                    self._engine.dispose(close=False)
                self._engine = open_engine(self.settings)
                self._owned = True
                self._pid = os.getpid()
                self._local = threading.local()
                self._banks = {}
            return self._engine

    def ledger(self) -> Ledger:
        engine = self.engine()
        ledger = getattr(self._local, "ledger", None)
        if ledger is None or ledger.engine is not engine:
            ledger = self._local.ledger = Ledger(engine, MessageClock(self.clock))
        return ledger

    def bank(self, seed: int, failure_rate: str | None = None):
        """The simulated bank for ``seed``, one per process (it remembers settled references).

        ``failure_rate``: the bank a simulation's scenario describes (no timeouts: in a
        story a timeout only delays); None: the one this process's settings describe.
        """

        self.engine()  # resets the banks after a fork
        with self._lock:
            key = (seed, failure_rate)
            if key not in self._banks:
                self._banks[key] = (
                    SimulatedBank.from_settings(self.settings, seed)
                    if failure_rate is None
                    else SimulatedBank(seed, Decimal(failure_rate), Decimal(0))
                )
            return self._banks[key]

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None and self._owned and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None


_current: Runtime | None = None
_current_lock = threading.Lock()


def configure(
    settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None
) -> Runtime:
    """Set this process's runtime (``engine``: use that one instead of opening the URL)."""
    global _current
    with _current_lock:
        _current = Runtime(settings, engine=engine, clock=clock)
        return _current


def current() -> Runtime:
    """This process's runtime; configured from the environment on first use if not set."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Runtime(Settings.from_env())
        return _current


# --- one message, one transaction -------------------------------------------------------


RACE_ATTEMPTS = 3


def retried_on_race(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (an actor body), done again at once if its append raced another worker's
    (``WriteRaced``: a key or a month written meanwhile). By then its transaction was
    rolled back whole, so the next attempt loads fresh facts, and its decider finds the
    work done or refuses it with the reason. After ``RACE_ATTEMPTS`` the race is raised
    (transient: the broker retries the message with backoff)."""

    @functools.wraps(fn)
    def attempt(*args: Any, **kwargs: Any) -> Any:
        for attempt_number in range(1, RACE_ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except WriteRaced:
                if attempt_number == RACE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    return attempt


@dataclass
class Batch:
    """What one message did: outcomes counted by name, entries posted, members refused."""

    ledger: Ledger
    conn: Connection
    counts: Counter[str] = field(default_factory=Counter)
    posted: int = 0
    problems: dict[str, str] = field(default_factory=dict)
    enqueued: int = 0

    def each(
        self,
        members: Iterable[str],
        handle: Callable[[str], tuple[str, int]],
        answers: Mapping[type[LedgerError], str] | None = None,
    ) -> None:
        """Run ``handle(member) -> (outcome, entries posted)`` for each member in a SAVEPOINT.

        ``answers`` names refusals that are normal outcomes (``MonthAlreadyPaid`` →
        ``already-paid``): counted under that name, not reported as problems.
        """
        answers = answers or {}
        for member in members:
            try:
                with self.conn.begin_nested():
                    outcome, posted = handle(member)
            except LedgerError as error:
                if is_transient(error):
                    raise
                self.forget_accounts()
                answer = next((a for t, a in answers.items() if isinstance(error, t)), None)
                self.counts[answer or "refused"] += 1
                if answer is None:
                    self.problems[member] = f"{type(error).__name__}: {error}"
            else:
                self.counts[outcome] += 1
                self.posted += posted

    def tally(
        self,
        item: str,
        refused: LedgerError | None,
        posted: int,
        done: str,
        again: str,
        answers: Mapping[type[LedgerError], str] | None = None,
    ) -> None:
        """Count one item a decider answered: refused (reported under its reason), ``done``
        with the entries it posted, or ``again`` when everything was recorded before.

        ``answers`` names refusals that are normal outcomes (``MonthAlreadyPaid`` →
        ``already-paid``): counted under that name, not reported as problems."""
        if refused is not None:
            answer = next((a for t, a in (answers or {}).items() if isinstance(refused, t)), None)
            self.counts[answer or "refused"] += 1
            if answer is None:
                self.problems[item] = f"{type(refused).__name__}: {refused}"
        else:
            self.counts[done if posted else again] += 1
            self.posted += posted

    def forget_accounts(self) -> None:
        """After a savepoint rolled back: accounts opened inside it are gone, so their
        cached ids must not survive the commit of the outer transaction."""
        self.ledger.recorder.rolled_back()

    def enqueue(self, actor_name: str, kwargs: dict[str, Any], message_id: str, **kw: Any) -> None:
        """A follow-up message, written in this transaction, relayed after it commits."""
        if outbox.enqueue(self.conn, actor_name, kwargs, message_id, **kw):
            self.enqueued += 1

    def outcome(self) -> dict[str, Any]:
        return {
            "posted": self.posted,
            "counts": dict(sorted(self.counts.items())),
            "problems": self.problems,
        }

    def error_text(self) -> str | None:
        if not self.problems:
            return None
        shown = "; ".join(f"{m}: {p}" for m, p in list(self.problems.items())[:20])
        more = len(self.problems) - 20
        return f"{len(self.problems)} member(s) refused: {shown}" + (
            f"; and {more} more" if more > 0 else ""
        )


def _story_time_allowed(conn: Connection) -> None:
    """Only a simulation's ledger takes a message that carries its own time."""

    if conn.execute(select(simulations.c.id).limit(1)).first() is None:
        raise BadInput(
            "at_iso",
            "a message may carry its own time only on a simulation's ledger; this "
            "ledger records at the time of its writes",
        )


def _claim(conn: Connection, message_id: str, actor_name: str, runtime: Runtime) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # RETURNING, not rowcount: drivers need not report a row count for an INSERT.
    claimed = conn.execute(
        dialect.insert(processed_messages)
        .values(message_id=message_id, actor_name=actor_name, processed_at=runtime.clock.now())
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(processed_messages.c.message_id)
    ).first()
    return claimed is not None


@contextmanager
def exactly_once(
    message_id: str, actor_name: str, run_key: str, at_iso: str | None = None
) -> Iterator[Batch | None]:
    """One transaction for one message; yields None if the message was already processed.

    ``at_iso``: the time the message's entries are recorded at (a simulation's story
    time, see ``MessageClock``); None: now.

    On leaving the block without an error the outcome, the processed row and the ``done``
    status commit with the work; follow-up messages are then relayed (best effort: the
    scheduler's relay sends whatever is left).
    """
    runtime = current()
    ledger = runtime.ledger()
    clock = ledger.clock
    if isinstance(clock, MessageClock):
        clock.at = as_utc(datetime.fromisoformat(at_iso)) if at_iso else None
    try:
        with _unit(runtime, ledger, message_id, actor_name, run_key) as batch:
            yield batch
    finally:
        if isinstance(clock, MessageClock):
            clock.at = None


@contextmanager
def _unit(
    runtime: Runtime, ledger: Ledger, message_id: str, actor_name: str, run_key: str
) -> Iterator[Batch | None]:
    batch: Batch | None = None
    with ledger.unit_of_work() as conn:
        if not _claim(conn, message_id, actor_name, runtime):
            outbox.mark(conn, message_id, "done", run_key=run_key, job=actor_name)
            yield None
            return
        if isinstance(ledger.clock, MessageClock) and ledger.clock.at is not None:
            _story_time_allowed(conn)
        batch = Batch(ledger, conn)
        yield batch
        conn.execute(
            update(processed_messages)
            .where(processed_messages.c.message_id == message_id)
            .values(outcome=json.dumps(batch.outcome(), sort_keys=True))
        )
        outbox.mark(
            conn, message_id, "done", run_key=run_key, job=actor_name, error=batch.error_text()
        )
    if batch.enqueued:
        try:
            outbox.relay_all(runtime.engine(), dramatiq.get_broker())
        except Exception:  # the rows stay unsent; the next relay sends them
            pass


# --- running a run: embedded, or waiting for the Redis workers ------------------------


def drain(
    engine: Engine,
    broker: dramatiq.Broker,
    threads: int,
    on_tick: Callable[[], None] | None = None,
    tick_seconds: float = 0.2,
) -> None:
    """Embedded mode: run an in-process worker until the queue (retries included) is empty."""
    outbox.relay_all(engine, broker)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    joiner = threading.Thread(
        target=broker.join, args=(outbox.QUEUE,), kwargs={"fail_fast": False}, daemon=True
    )
    try:
        joiner.start()
        while joiner.is_alive():
            if on_tick is not None:
                on_tick()
            joiner.join(tick_seconds)
    finally:
        worker.stop()
    if on_tick is not None:
        on_tick()


def wait(
    engine: Engine,
    broker: dramatiq.Broker,
    run_key: str,
    timeout_s: float | None = None,
    on_tick: Callable[[], None] | None = None,
    tick_seconds: float = 0.5,
    resend_after_s: float | None = None,
) -> dict[str, Any]:
    """Redis mode: relay and poll until no message of the run is queued or running
    (with ``resend_after_s``, also hand again messages lost in the broker)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        try:
            if resend_after_s is not None:
                outbox.resend_stale(engine, broker, resend_after_s)
            outbox.relay_all(engine, broker)
        except Exception:  # the broker may be down: keep waiting
            pass
        state = outbox.progress(engine, run_key)
        if on_tick is not None:
            on_tick()
        if state["queued"] == 0 and state["running"] == 0:
            return state
        if deadline is not None and time.monotonic() > deadline:
            return state
        time.sleep(tick_seconds)
