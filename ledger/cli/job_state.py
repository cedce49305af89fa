"""``flexledger jobs status`` and ``jobs retry``: the state of the workers' runs, and the
failed messages sent again under their own ids (they still take effect once)."""

from __future__ import annotations

import click

from ledger.cli.base import json_option, print_json, print_table
from ledger.cli.jobs import EMBEDDED_THREADS, errors_table, jobs_group, open_runtime
from ledger.config import Settings
from ledger.store.db import open_engine
from workers import outbox, runtime
from workers.broker import is_embedded


@jobs_group.command("status")
@click.option("--run", "run_key", help="One run (default: all).")
@json_option
def status(run_key: str | None, as_json: bool) -> None:
    """Messages by run and status (queued, running, done, failed), and the failed ones."""
    engine = open_engine(Settings.from_env())
    try:
        with engine.connect() as conn:
            runs = outbox.run_summary(conn, run_key)
            failed = outbox.messages_with_errors(conn, run_key, "failed")
            waiting = outbox.unsent(conn)
    finally:
        engine.dispose()
    if as_json:
        print_json({"runs": runs, "failed": failed, "unsent": waiting})
        return
    print_table(
        None,
        ("run", "queued", "running", "done", "failed", "entries posted"),
        [
            (
                r["run"],
                str(r["queued"]),
                str(r["running"]),
                str(r["done"]),
                str(r["failed"]),
                str(r["posted"]),
            )
            for r in runs
        ],
    )
    errors_table("failed messages (dead letters)", failed)
    if waiting:
        click.echo(f"{waiting} message(s) in the outbox not yet handed to the broker")


@jobs_group.command("retry")
@click.option("--run", "run_key", help="Only this run's failed messages.")
@click.option("--threads", default=EMBEDDED_THREADS, show_default=True)
@json_option
def retry(run_key: str | None, threads: int, as_json: bool) -> None:
    """Re-queue failed messages under their own ids (they still take effect once)."""
    broker, rt = open_runtime(Settings.from_env())
    engine = rt.engine()
    try:
        with engine.begin() as conn:
            ids = outbox.retry(conn, run_key)
        outbox.relay_all(engine, broker)
        if ids and is_embedded(broker):
            runtime.drain(engine, broker, threads)
    finally:
        rt.dispose()
    if as_json:
        print_json({"requeued": ids})
    else:
        click.echo(f"re-queued {len(ids)} failed message(s)")
