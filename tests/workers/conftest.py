"""Worker fixtures: one contract, run on the stub broker and on a real Redis.

``broker`` is parametrised: ``[stub]`` is dramatiq's in-process broker, ``[redis]`` a
``RedisBroker`` on a private ``redis-server`` this session starts on a free port (no
persistence; flushed before each test). Combined with the ``engine`` fixture (SQLite and
PostgreSQL) every worker test runs four times. Without ``redis-server`` the Redis tests
skip, unless ``FLEXLEDGER_REQUIRE_SERVICES=1`` (CI): then they fail.

Retries are fast here (10 to 100 ms of backoff, three retries), so the suite takes seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dramatiq
import pytest
import redis
from sqlalchemy import Engine, insert

from ledger.config import Settings
from ledger.domain.clock import SystemClock
from ledger.domain.identity import check_character
from ledger.operations.services import Ledger
from ledger.store.tables import enrolments, members
from workers import actors, runtime
from workers.broker import BrokerOptions, configure
from workers.outbox import QUEUE

BEIJING = "110000"
FAST = BrokerOptions(
    max_retries=3,
    min_backoff_ms=10,
    max_backoff_ms=100,
    heartbeat_timeout_ms=1_500,
    maintenance_per_million=1_000_000,
)


def _unavailable(reason: str) -> None:
    if os.environ.get("FLEXLEDGER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (FLEXLEDGER_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    """A private ``redis-server``; ``stop``/``start`` keep its port and directory."""

    port: int
    directory: Path
    persistent: bool = False
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server is not installed")
        aof = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(self.directory),
                *aof,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        _unavailable(f"redis-server did not start on port {self.port}")

    def stop(self, kill: bool = False) -> None:
        """A clean shutdown, or with ``kill`` a crash (SIGKILL): with AOF and
        ``appendfsync always`` everything Redis acknowledged is on disk either way."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["stub", pytest.param("redis", marks=pytest.mark.redis)])
def broker(request: pytest.FixtureRequest, engine: Engine, empty_database) -> Iterator:
    """The broker, configured as ``flexledger`` would, with the actors declared on it, and
    the runtime on the test's database."""
    redis_url = None
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        redis.Redis(port=server.port).flushall()
        redis_url = server.url
    settings = Settings(database_url=empty_database.url, redis_url=redis_url)
    found = configure(settings, FAST)
    actors.declare(found)
    runtime.configure(settings, engine=engine, clock=SystemClock())
    yield found
    found.close()
    runtime.configure(Settings())  # forget the test's engine


@pytest.fixture
def worker(broker: dramatiq.Broker) -> Iterator[dramatiq.Worker]:
    found = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    found.start()
    yield found
    found.stop(timeout=10_000)


def join(broker: dramatiq.Broker, timeout_ms: int = 30_000) -> None:
    """Wait until the queue is drained (delayed retries included)."""
    if isinstance(broker, dramatiq.brokers.stub.StubBroker):
        broker.join(QUEUE, fail_fast=False, timeout=timeout_ms)
    else:
        broker.join(QUEUE, timeout=timeout_ms)


# --- members ----------------------------------------------------------------------------


def member_id(i: int) -> str:
    """A valid citizen ID number, distinct for every ``i`` below 900,000: born from 1990,
    young enough for a transfer out of the hukou province to move the money (from 50 for
    men and 40 for women it opens a temporary account instead, 66号 Art. 5 (2))."""
    born = date.fromordinal(date(1990, 1, 1).toordinal() + i // 900)
    first17 = f"110105{born:%Y%m%d}{100 + i % 900:03d}"
    return first17 + check_character(first17)


def enrol(
    engine: Engine,
    count: int,
    *,
    start: int = 0,
    method: str = "monthly",
    signed_on: date | None = None,
    agency: str | None = None,
    from_month: str = "2025-07",
) -> list[str]:
    """Register and enrol ``count`` Beijing pension members at 60% (rows as the ledger writes
    them, in bulk: the ledger's own tests cover ``add_member`` and ``enroll``)."""
    ids = [member_id(i) for i in range(start, start + count)]
    now = SystemClock().now()
    with engine.begin() as conn:
        conn.execute(
            insert(members),
            [
                {
                    "id": m,
                    "region": BEIJING,
                    "hukou": "110105",
                    "sex": "male" if int(m[16]) % 2 else "female",
                    "birth_date": date(int(m[6:10]), int(m[10:12]), int(m[12:14])),
                    "recorded_at": now,
                }
                for m in ids
            ],
        )
        conn.execute(
            insert(enrolments),
            [
                {
                    "member_id": m,
                    "scheme": "pension",
                    "region": BEIJING,
                    "base_percent": "60",
                    "method": method,
                    "agency": agency,
                    "from_month": from_month,
                    "signed_on": signed_on,
                    "recorded_at": now,
                }
                for m in ids
            ],
        )
    return ids


def mark_simulation(engine: Engine) -> None:
    """Make the test's ledger a simulation's (``simulations``), which lets messages carry
    the story's time."""
    from ledger.store.tables import simulations

    with engine.begin() as conn:
        conn.execute(
            insert(simulations).values(
                seed=1,
                members=0,
                first_month="2025-01",
                last_month="2025-12",
                scenario="{}",
                recorded_at=SystemClock().now(),
            )
        )


def ledger_for(engine: Engine) -> Ledger:
    return Ledger(engine, SystemClock())
