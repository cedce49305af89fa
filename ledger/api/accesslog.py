"""The access log off the request path: rows queued by the request, written in batches.

Every request is still one ``access_log`` row (who, when, method, path, status), appended,
never changed. What changes is when it is written: ``AccessLog.record`` puts the row on a
queue and returns at once (no thread-pool hop, no transaction on the request path); one
writer thread takes whatever has queued — one row when the server is idle, up to
``MAX_BATCH`` under load — and INSERTs them in one transaction, in the order they were
recorded. Guarantees:

- a row is written within moments of its request (the writer waits for nothing but the
  queue); ``flush()`` returns once every row recorded before it is written;
- a clean shutdown (uvicorn's on SIGINT/SIGTERM: the app's lifespan ends) writes every
  queued row before the process exits (``close``); so does interpreter exit (``atexit``);
- a batch the database refuses is retried (``RETRIES`` times, backing off), then its rows
  are reported by count on the ``flexledger.api`` log (never their paths' secrets: a path
  holds no token) and dropped: the log must not stop the server answering. Only a hard
  kill of the process loses the rows still queued (at most the last moments' requests).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from datetime import datetime

from sqlalchemy import Engine, insert

from ledger.store.access import MAX_PATH
from ledger.store.access_tables import access_log

log = logging.getLogger("flexledger.api")

MAX_BATCH = 500
LINGER_S = 0.02  # how long the writer gathers rows after the first before it commits
RETRIES = 3


class AccessLog:
    """One writer thread per app, started by the first row."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[dict | threading.Event | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def record(
        self, token_id: int | None, at: datetime, method: str, path: str, status: int
    ) -> None:
        row = {
            "token_id": token_id,
            "at": at,
            "method": method[:10],
            "path": path[:MAX_PATH],
            "status": status,
        }
        with self._lock:
            if not self._closed:
                self._start()
                self._queue.put(row)
                return
        self._write([row])  # after shutdown (a straggler): written on the spot, not lost

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row recorded so far is written; False if ``timeout`` passed."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write every queued row, then stop the writer (a later row is written directly)."""
        with self._lock:
            thread, self._closed = self._thread, True
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    def _start(self) -> None:
        """Under ``_lock``: the writer thread, once."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="flexledger-access-log", daemon=True
            )
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[dict] = []
            waiting: list[threading.Event] = []
            item = self._queue.get()
            lingered = False
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiting.append(item)
                else:
                    batch.append(item)
                if len(batch) >= MAX_BATCH or stop:
                    break
                if not lingered and not waiting:
                    lingered = True  # one nap, not a wake-up per row: let a burst queue
                    time.sleep(LINGER_S)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            for event in waiting:
                event.set()

    def _write(self, batch: list[dict]) -> None:
        for attempt in range(RETRIES + 1):
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(access_log), batch)
                return
            except Exception as exc:  # the log must not take the server down
                if attempt == RETRIES:
                    log.error(
                        "access log: %d row(s) not written: %s", len(batch), type(exc).__name__
                    )
                    return
                time.sleep(0.05 * 2**attempt)
