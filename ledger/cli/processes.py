"""``flexledger worker`` and ``flexledger scheduler``: the long-running production processes.

Both need ``FLEXLEDGER_REDIS_URL``: in the embedded mode ``flexledger jobs run`` runs its
worker inside itself, and cron takes the scheduler's place.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from ledger.cli.base import cli
from ledger.cli.jobs import open_runtime
from ledger.config import Settings
from ledger.domain.errors import NeedsRedis
from ledger.store.db import open_engine
from workers import scheduler as periodic
from workers.broker import BrokerOptions


@cli.command("worker")
@click.option(
    "--processes", default=os.cpu_count() or 1, show_default=True, type=click.IntRange(1, 256)
)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
def worker(processes: int, threads: int) -> None:
    """Run worker processes on Redis (dramatiq's command line, started by workers.app)."""
    settings = Settings.from_env()
    if not settings.redis_url:
        raise NeedsRedis(
            "flexledger worker needs FLEXLEDGER_REDIS_URL: in the embedded mode "
            "`flexledger jobs run` runs its worker inside itself"
        )

    open_engine(settings).dispose()  # refuse a database not at the head revision, now
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "workers.app:from_env",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
    ]
    sys.stdout.flush()
    os.execvp(sys.executable, argv)


@cli.command("scheduler")
def scheduler() -> None:
    """Enqueue the periodic runs and relay the outbox, for ever (see workers.scheduler)."""

    settings = Settings.from_env()
    if not settings.redis_url:
        raise NeedsRedis(
            "flexledger scheduler feeds Redis workers and needs FLEXLEDGER_REDIS_URL: in the "
            "embedded mode run `flexledger jobs run …` from cron instead"
        )
    broker, rt = open_runtime(settings)
    zone = ZoneInfo(periodic.TIMEZONE)
    resend_s = BrokerOptions.from_env().resend_after_ms / 1000
    found = periodic.scheduler(rt.engine(), broker, lambda: datetime.now(zone).date(), resend_s)
    for job in found.get_jobs():
        click.echo(f"scheduled {job.name}: {job.trigger}")
    try:
        found.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        rt.dispose()
