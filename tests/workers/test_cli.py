"""``flexledger jobs``, ``worker`` and ``scheduler``, as a user runs them.

Embedded (no ``FLEXLEDGER_REDIS_URL``): ``jobs run`` enqueues, runs its own worker and
prints the summary. With Redis: ``jobs run`` only enqueues unless ``--wait``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest
import redis
from sqlalchemy import func, select, update

from ledger.cli import main
from ledger.domain.money import parse_yuan
from ledger.operations.payments import contribute
from ledger.store.balances import balance
from ledger.store.tables import entries
from ledger.store.worker_tables import outbox as outbox_table
from workers import outbox
from workers.outbox import message_id

from .conftest import enrol

RUN = [
    "jobs",
    "run",
    "contributions",
    "--from",
    "2025-07",
    "--to",
    "2025-09",
    "--paid-on",
    "2025-10-10",
    "--batch-size",
    "4",
]
KEY = "contributions:pension:2025-07:2025-09:2025-10-10"


@pytest.fixture
def env(monkeypatch, empty_database, engine):
    """The environment of a user on the test's database, embedded mode, fast retries."""
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    monkeypatch.delenv("FLEXLEDGER_REDIS_URL", raising=False)
    monkeypatch.setenv("FLEXLEDGER_RETRY_MIN_BACKOFF_MS", "10")
    monkeypatch.setenv("FLEXLEDGER_RETRY_MAX_BACKOFF_MS", "50")
    return monkeypatch


def run_json(capsys, argv: list[str]) -> tuple[int, dict]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


def contributions(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(entries).where(entries.c.kind == "contribution")
        ).scalar_one()


def test_jobs_run_embedded_does_the_work_and_prints_the_summary(env, engine, capsys):
    enrol(engine, 10)
    code, summary = run_json(capsys, [*RUN, "--json"])
    assert code == 0
    assert {
        k: summary[k] for k in ("run", "messages", "new_messages", "done", "failed", "posted")
    } == {
        "run": KEY,
        "messages": 3,
        "new_messages": 3,
        "done": 3,
        "failed": 0,
        "posted": 30,
    }
    assert contributions(engine) == 30

    code, again = run_json(capsys, [*RUN, "--json"])  # the same run: nothing new
    assert (code, again["new_messages"], again["posted"], contributions(engine)) == (0, 0, 30, 30)

    code, status = run_json(capsys, ["jobs", "status", "--json"])
    assert status["runs"] == [
        {"run": KEY, "queued": 0, "running": 0, "done": 3, "failed": 0, "posted": 30}
    ]
    assert (status["failed"], status["unsent"]) == ([], 0)


def test_jobs_run_prints_a_table_for_people(env, engine, capsys):
    enrol(engine, 2)
    assert main(RUN) == 0
    out = capsys.readouterr().out
    assert f"run {KEY}" in out and "entries posted" in out


def test_jobs_retry_requeues_the_dead_letters_and_the_embedded_worker_runs_them(
    env, engine, capsys
):
    members = enrol(engine, 3)
    mid = message_id("manual", 0)
    with engine.begin() as conn:  # a message that failed for a reason since fixed
        outbox.enqueue(
            conn,
            "post_contributions_batch",
            {
                "run_key": "manual",
                "scheme": "pension",
                "member_ids": members,
                "first": "2025-07",
                "last": "2025-07",
                "paid_on_iso": "2025-10-10",
            },
            mid,
        )
        conn.execute(update(outbox_table).values(sent_at=func.now()))
        outbox.mark(conn, mid, "failed", error="OperationalError: server closed the connection")
    code, status = run_json(capsys, ["jobs", "status", "--json"])
    assert status["failed"][0]["last_error"].startswith("OperationalError")
    assert status["runs"][0]["failed"] == 1

    code, retried = run_json(capsys, ["jobs", "retry", "--run", "manual", "--json"])
    assert (code, retried) == (0, {"requeued": [mid]})
    assert contributions(engine) == 3
    code, status = run_json(capsys, ["jobs", "status", "--run", "manual", "--json"])
    assert status["runs"][0]["done"] == 1 and status["failed"] == []


def test_a_run_with_a_failed_message_exits_1_and_names_it(env, engine, capsys):
    enrol(engine, 2)

    def broken(self, *args, **kwargs):
        raise ValueError("a bug in the batch")

    env.setattr("workers.runtime.Batch.tally", broken)
    code, summary = run_json(capsys, [*RUN, "--json"])
    assert (code, summary["failed"], summary["done"]) == (1, 1, 0)
    assert summary["failures"][0]["last_error"] == "ValueError: a bug in the batch"
    assert contributions(engine) == 0


def test_an_empty_run_succeeds(env, engine, capsys):
    code, summary = run_json(capsys, [*RUN, "--json"])
    assert (code, summary["messages"]) == (0, 0)


def test_worker_execs_the_dramatiq_command_line_on_the_actors(env, monkeypatch):
    env.setenv("FLEXLEDGER_REDIS_URL", "redis://127.0.0.1:1/0")  # not contacted
    calls = []
    monkeypatch.setattr(os, "execvp", lambda file, argv: calls.append((file, argv)))
    assert main(["worker", "--processes", "3", "--threads", "5"]) == 0
    assert calls == [
        (
            sys.executable,
            [
                sys.executable,
                "-m",
                "dramatiq",
                "workers.app:from_env",
                "--processes",
                "3",
                "--threads",
                "5",
            ],
        )
    ]


def test_worker_and_scheduler_need_redis(env, capsys):
    assert main(["worker"]) == 1
    assert "embedded mode `flexledger jobs run` runs its worker" in capsys.readouterr().err
    assert main(["scheduler"]) == 1
    assert "needs FLEXLEDGER_REDIS_URL" in capsys.readouterr().err


@pytest.mark.redis
def test_with_redis_jobs_run_only_enqueues_unless_asked_to_wait(env, engine, capsys, redis_server):
    redis.Redis(port=redis_server.port).flushall()
    env.setenv("FLEXLEDGER_REDIS_URL", redis_server.url)
    enrol(engine, 5)
    code, summary = run_json(capsys, [*RUN, "--json"])
    assert (code, summary["queued"], summary["done"]) == (0, 2, 0)
    assert redis_server.client().hlen("dramatiq:flexledger.msgs") == 2

    import dramatiq

    from ledger.config import Settings
    from workers import actors
    from workers.broker import configure
    from workers.runtime import configure as configure_runtime

    settings = Settings.from_env()
    broker = configure(settings)
    actors.declare(broker)
    configure_runtime(settings, engine=engine)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        code, summary = run_json(capsys, [*RUN, "--wait", "--timeout", "30", "--json"])
    finally:
        worker.stop(timeout=10_000)
    assert (code, summary["new_messages"], summary["done"], summary["posted"]) == (0, 0, 2, 15)


def test_a_fresh_process_runs_a_job_embedded(env, engine, empty_database):
    """As a user's shell runs it: nothing imported before the command configures the broker."""
    enrol(engine, 3)
    script = "import sys; from ledger.cli import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", script, *RUN, "--json"],
        env={**os.environ, "FLEXLEDGER_DATABASE_URL": empty_database.url},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["posted"] == 9


def _transfer(member: str, *extra: str) -> list[str]:
    return ["transfer", "--member", member, "--to", "310000", "--on", "2025-11-03", *extra]


def test_flexledger_transfer_moves_the_money_embedded_and_prints_what_moved(env, engine, capsys):
    [member] = enrol(engine, 1)
    assert main(RUN) == 0
    capsys.readouterr()
    with engine.connect() as conn:
        personal_before = -balance(conn, f"personal:pension:{member}", date(2025, 11, 3))

    code, shown = run_json(capsys, [*_transfer(member), "--json"])
    assert code == 0
    assert {k: shown[k] for k in ("member", "from", "to", "on", "status", "problems")} == {
        "member": member,
        "from": "110000",
        "to": "310000",
        "on": "2025-11-03",
        "status": "in",
        "problems": [],
    }
    assert parse_yuan(shown["personal"]) == personal_before > 0
    # 12% of three months at Beijing's 2025 floor, 7,162 yuan (DOMAIN.md §2, §5).
    assert shown["pooling"] == "2578.32"
    with engine.connect() as conn:
        assert -balance(conn, f"personal:pension:{member}", date(2025, 11, 3)) == personal_before
        assert balance(conn, "transit:pension", date(2025, 11, 3)) == 0

    code, again = run_json(capsys, [*_transfer(member), "--json"])  # the same request
    assert (code, again) == (0, shown)
    with engine.connect() as conn:
        kinds = dict(
            conn.execute(select(entries.c.kind, func.count()).group_by(entries.c.kind)).all()
        )
    assert kinds == {"contribution": 3, "transfer-out": 1, "transfer-in": 1}

    assert main(_transfer(member)) == 0
    assert "transfer " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv_for", "message"),
    [
        (lambda m: ["transfer", "--member", m, "--to", "999999", "--on", "2025-11-03"], "999999"),
        (lambda m: _transfer(m[:-1] + ("0" if m[-1] != "0" else "1")), "error: member: "),
        (lambda m: _transfer(m, "--scheme", "resident-pension"), "scheme: "),
        (
            lambda m: ["transfer", "--member", m, "--to", "110000", "--on", "2025-11-03"],
            "already enrolled in 110000",
        ),
        (
            lambda m: ["transfer", "--member", m, "--to", "310000", "--on", "2025-05-01"],
            "no pension enrolment in force",
        ),
    ],
)
def test_flexledger_transfer_refuses_bad_input_and_writes_nothing(
    env, engine, capsys, argv_for, message
):
    [member] = enrol(engine, 1)
    assert main(RUN) == 0
    capsys.readouterr()
    with engine.connect() as conn:
        entries_before = conn.execute(select(func.count()).select_from(entries)).scalar_one()
        outbox_before = conn.execute(select(func.count()).select_from(outbox_table)).scalar_one()
    assert main(argv_for(member)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == (
            entries_before
        )
        assert conn.execute(select(func.count()).select_from(outbox_table)).scalar_one() == (
            outbox_before
        )


def test_jobs_run_transfer_timeouts_returns_what_was_not_accepted(env, engine, capsys):
    from ledger.domain.schemes import Scheme
    from ledger.operations.transfers import request_transfer

    from .conftest import ledger_for

    [member] = enrol(engine, 1)
    assert main(RUN) == 0
    ledger = ledger_for(engine)
    with ledger.unit_of_work() as conn:
        transfer_id = request_transfer(
            ledger, conn, member, Scheme.PENSION, "310000", date(2025, 11, 3)
        )
    capsys.readouterr()
    sweep = ["jobs", "run", "transfer-timeouts", "--today", "2026-01-10", "--json"]
    code, summary = run_json(capsys, sweep)
    assert (code, summary["run"], summary["done"], summary["posted"]) == (
        0,
        "transfer-timeouts:2026-01-10",
        1,
        1,
    )
    code, shown = run_json(capsys, [*_transfer(member), "--json"])
    assert (code, shown["status"]) == (0, "returned")
    assert shown["problems"] == [
        f"transfer {transfer_id} returned to 110000: not accepted within 45 days"
    ]


def test_flexledger_transfer_scheme_medical_moves_the_months_of_an_empty_account(
    env, engine, capsys
):
    """DOMAIN.md §5 (医保办发〔2021〕43号): the medical years are added up at the new place
    whatever the balance; Beijing's flexible-employee medical personal share is 0 (§3), so
    ``--scheme medical`` moves 0.00 and 0.00 and is settled, not refused."""
    from ledger.domain.clock import SystemClock
    from ledger.domain.period import Month
    from ledger.domain.rules.contribution import BaseChoice
    from ledger.domain.schemes import Scheme
    from ledger.operations.services import Ledger
    from ledger.store.queries import contribution_months

    [member] = enrol(engine, 1)
    ledger = Ledger(engine, SystemClock())
    with ledger.unit_of_work() as conn:
        ledger.enroll(
            conn, member, Scheme.MEDICAL, "110000", BaseChoice.of(percent="60"), Month(2025, 7)
        )
        contribute(
            ledger, conn, member, Scheme.MEDICAL, Month(2025, 7), Month(2025, 9), date(2025, 10, 10)
        )
    code, shown = run_json(capsys, [*_transfer(member, "--scheme", "medical"), "--json"])
    assert code == 0
    assert (shown["status"], shown["personal"], shown["pooling"]) == ("in", "0.00", "0.00")
    with engine.connect() as conn:
        held = [
            (r.region, r.months, r.held_in)
            for r in contribution_months(conn, member)
            if r.scheme == "medical"
        ]
    assert held == [("110000", 3, "310000")]
