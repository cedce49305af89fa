"""Point balances over HTTP: ``flexledger serve``'s p50 with 1 and 8 local clients (a script).

Builds (or reuses) the ledger ``bench/bench_balances.py`` builds — N postings (default
10,000,000), ~10,000 members in 5 regions, 2% back-dated — with its yearly checkpoints,
issues an auditor token, and serves the product's own app (``ledger.api.app.create_app``,
uvicorn, one process: an access-log row is written for every request, as in production)
in a subprocess on a free loopback port. Then, over the same random dates on both time
axes (as of a date; as known at a time), one pooling account's balance is asked:

- in-process, ``ledger.store.balances.balance`` on one connection: the baseline;
- over HTTP by 1 client, then by 8 concurrent clients (threads, each with its own
  keep-alive connection), each phase bounded by ``--requests`` per client and
  ``--seconds`` of wall time, whichever comes first.

Every HTTP answer is checked against the in-process one. Prints p50/p95 per phase, the
requests per second, and the ratio of each HTTP p50 to the in-process p50 of the same run.
The load goes only to 127.0.0.1 and stops by itself.

    .venv/bin/python bench/bench_http.py --postings 10000000
    .venv/bin/python bench/bench_http.py --postings 300000 --postgres postgresql+psycopg://postgres@127.0.0.1:5432/flexledger_test
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select

from bench.bench_balances import (
    START,
    build_postgres,
    build_sqlite,
    make_all,
    month_start,
    months_of,
)
from ledger.domain.clock import SystemClock
from ledger.domain.money import format_yuan
from ledger.store.balances import balance, utc
from ledger.store.db import make_engine
from ledger.store.tables import checkpoints, postings

ACCOUNT = "pooling:pension:110000"
SCHEMA = "flexledger_bench_http"
console = Console(stderr=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def served_app():  # type: ignore[no-untyped-def]
    """The app one server process serves (a uvicorn factory: each worker builds its own)."""
    import logging

    from ledger.api.app import create_app

    logging.getLogger("uvicorn.access").disabled = True
    schema = os.environ.get("FLEXLEDGER_BENCH_SCHEMA") or None
    return create_app(make_engine(os.environ["FLEXLEDGER_BENCH_URL"], schema=schema))


def serve(url: str, schema: str | None, port: int, workers: int) -> None:
    """The server process(es): the product's app on ``url`` (``--serve``), as
    ``flexledger serve --workers`` runs it."""
    import uvicorn

    os.environ["FLEXLEDGER_BENCH_URL"] = url
    os.environ["FLEXLEDGER_BENCH_SCHEMA"] = schema or ""
    root = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    uvicorn.run(
        "bench.bench_http:served_app",
        factory=True,
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


def summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms) or [0.0]
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 3), "p95_ms": round(p95, 3)}


def workload(months: int, count: int, seed: int) -> list[tuple[str, str | None]]:
    """(as_of, known_at or None) pairs: half on each axis, dates over the whole history."""
    rng = random.Random(seed)
    span = (month_start(months) - timedelta(days=1) - START).days
    pairs = []
    for n in range(count):
        day = START + timedelta(days=rng.randint(0, span))
        known = None
        if n % 2:
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
                days=rng.randint(0, 365)
            )
            known = at.isoformat()
        pairs.append((day.isoformat(), known))
    return pairs


def in_process(engine: Engine, pairs: list[tuple[str, str | None]]) -> tuple[dict, dict]:
    from datetime import date

    expected: dict[tuple[str, str | None], str] = {}
    by_axis: dict[str, list[float]] = {"as_of": [], "known_at": []}
    with engine.connect() as conn:
        for as_of, known in pairs[:20]:  # warm the caches
            balance(
                conn,
                ACCOUNT,
                date.fromisoformat(as_of),
                utc(datetime.fromisoformat(known)) if known else None,
            )
        for as_of, known in pairs:
            started = time.perf_counter()
            total = balance(
                conn,
                ACCOUNT,
                date.fromisoformat(as_of),
                utc(datetime.fromisoformat(known)) if known else None,
            )
            by_axis["known_at" if known else "as_of"].append((time.perf_counter() - started) * 1000)
            expected[(as_of, known)] = format_yuan(total)
    every = by_axis["as_of"] + by_axis["known_at"]
    figures = {
        "all": summary(every),
        "as_of": summary(by_axis["as_of"]),
        "known_at": summary(by_axis["known_at"]),
        "requests": len(every),
    }
    return figures, expected


class Client:
    """One keep-alive connection: ``httpx`` (the default, as a Python program would ask) or
    the standard library's ``http.client`` (``--client stdlib``: about a quarter of the
    client's CPU a request, which on a small machine the server would otherwise share)."""

    def __init__(self, kind: str, base: str, headers: dict[str, str]) -> None:
        self.kind, self.headers = kind, headers
        if kind == "httpx":
            import httpx

            self.http = httpx.Client(base_url=base, headers=headers, timeout=30)
        else:
            import http.client
            from urllib.parse import urlsplit

            where = urlsplit(base)
            self.http = http.client.HTTPConnection(where.hostname, where.port, timeout=30)

    def get(self, path: str, params: dict[str, str]) -> SimpleNamespace:
        if self.kind == "httpx":
            answer = self.http.get(path, params=params)
            return SimpleNamespace(status_code=answer.status_code, text=answer.text)
        from urllib.parse import urlencode

        self.http.request("GET", f"{path}?{urlencode(params)}", headers=self.headers)
        answer = self.http.getresponse()
        return SimpleNamespace(status_code=answer.status, text=answer.read().decode())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()


def over_http(
    base: str,
    token: str,
    pairs: list[tuple[str, str | None]],
    expected: dict,
    clients: int,
    requests: int,
    seconds: float,
    kind: str = "httpx",
) -> dict:
    samples: list[list[tuple[str, float]]] = [[] for _ in range(clients)]
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def client(index: int) -> None:
        rng = random.Random(index)
        headers = {"Authorization": f"Bearer {token}"}
        with Client(kind, base, headers) as http:
            for as_of, _known in pairs[:5]:  # connect and warm up
                http.get(f"/api/accounts/{ACCOUNT}/balance", params={"as_of": as_of})
            barrier.wait()
            for _ in range(requests):
                if time.monotonic() >= deadline:
                    return
                as_of, known = pairs[rng.randrange(len(pairs))]
                params = {"as_of": as_of} | ({"known_at": known} if known else {})
                started = time.perf_counter()
                answer = http.get(f"/api/accounts/{ACCOUNT}/balance", params=params)
                elapsed = (time.perf_counter() - started) * 1000
                if (
                    answer.status_code != 200
                    or json.loads(answer.text)["balance"] != expected[(as_of, known)]
                ):
                    errors.append(f"{params}: {answer.status_code} {answer.text[:200]}")
                    return
                samples[index].append(("known_at" if known else "as_of", elapsed))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if errors:
        raise SystemExit(f"an HTTP answer differs from the in-process one: {errors[0]}")
    flat = [s for per in samples for s in per]
    return {
        "clients": clients,
        "requests": len(flat),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(flat) / wall, 1),
        "client": kind,
        "client_cpu_ms_per_request": round(1000 * cpu / max(len(flat), 1), 3),
        "all": summary([ms for _, ms in flat]),
        "as_of": summary([ms for axis, ms in flat if axis == "as_of"]),
        "known_at": summary([ms for axis, ms in flat if axis == "known_at"]),
    }


def run(backend: str, url: str, schema: str | None, args: argparse.Namespace, months: int):  # type: ignore[no-untyped-def]
    from ledger.store.access import issue_token

    engine = make_engine(url, schema=schema)
    with engine.begin() as conn:
        _, token = issue_token(conn, SystemClock(), "auditor", "bench", 1)
    with engine.connect() as conn:
        n_postings = conn.execute(select(func.count()).select_from(postings)).scalar_one()
        n_checkpoints = conn.execute(select(func.count()).select_from(checkpoints)).scalar_one()
    pairs = workload(months, args.samples, args.seed)
    console.log(f"{backend}: in-process baseline")
    base_figures, expected = in_process(engine, pairs)
    engine.dispose()
    port = _free_port()
    command = [sys.executable, __file__, "--serve", url, "--port", str(port)]
    command += ["--workers", str(args.workers)]
    if schema:
        command += ["--schema", schema]
    server = subprocess.Popen(command, env=os.environ.copy())
    try:
        _wait_for(port, server)
        phases = []
        for clients in args.clients:
            console.log(f"{backend}: {clients} HTTP client(s)")
            phases.append(
                over_http(
                    f"http://127.0.0.1:{port}",
                    token,
                    pairs,
                    expected,
                    clients,
                    args.requests,
                    args.seconds,
                    args.client,
                )
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    for phase in phases:
        phase["ratio_p50_to_in_process"] = round(
            phase["all"]["p50_ms"] / max(base_figures["all"]["p50_ms"], 1e-9), 1
        )
    return {
        "backend": backend,
        "postings": n_postings,
        "checkpoints": n_checkpoints,
        "in_process": base_figures,
        "http": phases,
    }


def _wait_for(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited before it listened")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("the server did not listen within 60 s")


def report(result: dict) -> None:
    table = Table(
        title=f"{result['backend']}: {ACCOUNT} balance, {result['postings']:,} "
        f"postings, {result['checkpoints']:,} checkpoints"
    )
    for column in (
        "where",
        "clients",
        "requests",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p50 as of",
        "p50 known at",
        "p50 ÷ in-process",
    ):
        table.add_column(column, justify="left" if column == "where" else "right")
    base = result["in_process"]
    table.add_row(
        "in-process",
        "1",
        str(base["requests"]),
        "",
        f"{base['all']['p50_ms']:.3f}",
        f"{base['all']['p95_ms']:.3f}",
        f"{base['as_of']['p50_ms']:.3f}",
        f"{base['known_at']['p50_ms']:.3f}",
        "1.0",
    )
    for phase in result["http"]:
        table.add_row(
            "HTTP",
            str(phase["clients"]),
            str(phase["requests"]),
            f"{phase['requests_per_s']:.0f}",
            f"{phase['all']['p50_ms']:.3f}",
            f"{phase['all']['p95_ms']:.3f}",
            f"{phase['as_of']['p50_ms']:.3f}",
            f"{phase['known_at']['p50_ms']:.3f}",
            f"{phase['ratio_p50_to_in_process']}",
        )
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=10_000_000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--sqlite", type=Path, help="database file (default: a temp file)")
    parser.add_argument("--reuse", action="store_true", help="reuse the SQLite file as built")
    parser.add_argument("--postgres", help="also build and time in this PostgreSQL database")
    parser.add_argument("--postgres-only", action="store_true", help="skip SQLite")
    parser.add_argument(
        "--reuse-postgres",
        metavar="SCHEMA",
        help="serve this schema as it is (e.g. flexledger_bench, which bench_balances.py "
        "--build-only and a timed run leave with their checkpoints) instead of building one",
    )
    parser.add_argument(
        "--clients",
        type=lambda s: [int(n) for n in s.split(",")],
        default=[1, 8],
        help="concurrent clients per phase, e.g. 1,8",
    )
    parser.add_argument("--requests", type=int, default=2000, help="at most, per client")
    parser.add_argument("--seconds", type=float, default=60.0, help="at most, per phase")
    parser.add_argument(
        "--client",
        choices=["httpx", "stdlib"],
        default="httpx",
        help="the load generator's HTTP client (stdlib: http.client, lighter)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (flexledger serve --workers)"
    )
    parser.add_argument("--samples", type=int, default=400, help="random (date, axis) pairs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.schema, args.port, args.workers)
        return 0
    if not (1 <= args.requests <= 100_000 and 0 < args.seconds <= 600):
        parser.error("--requests 1-100000 and --seconds up to 600: the load is bounded")
    if not 1 <= args.workers <= 16:
        parser.error("--workers: 1 to 16")
    if not all(1 <= c <= 64 for c in args.clients):
        parser.error("--clients: 1 to 64 each")
    members = min(args.members, max(1, args.postings // (3 * 120)))
    months = months_of(args.postings, members)
    checkpointing = SimpleNamespace(checkpoint_every=12, min_postings=1000)
    results = []
    if not args.postgres_only:
        path = args.sqlite or Path(tempfile.gettempdir()) / f"flexledger-http-{args.postings}.db"
        url = f"sqlite:///{path}"
        if not (args.reuse and path.exists()):
            started = time.perf_counter()
            build_sqlite(path, members, months, args.seed)
            engine = make_engine(url)
            make_all(engine, checkpointing, months)
            engine.dispose()
            console.log(f"SQLite built in {time.perf_counter() - started:.0f} s: {path}")
        results.append(run("sqlite", url, None, args, months))
    if args.postgres and args.reuse_postgres:
        results.append(run("postgresql", args.postgres, args.reuse_postgres, args, months))
    elif args.postgres:
        admin = make_engine(args.postgres)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
        admin.dispose()
        engine = make_engine(args.postgres, schema=SCHEMA)
        started = time.perf_counter()
        build_postgres(engine, members, months, args.seed)
        make_all(engine, checkpointing, months)
        engine.dispose()
        console.log(f"PostgreSQL built in {time.perf_counter() - started:.0f} s")
        results.append(run("postgresql", args.postgres, SCHEMA, args, months))
    for result in results:
        if not args.json:
            report(result)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
