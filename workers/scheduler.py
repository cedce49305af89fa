"""The periodic scheduler (``scheduler``, APScheduler, times in Asia/Shanghai; see
``PERIODIC``) starts the runs of ``workers.schedule`` at their times:
- affiliate fees, the 20th of each month at 02:00, for that month: the HR company pays
  within the month, and regions without back-payment refuse a month once it has passed;
- bank deduction, 1 December at 03:00 (round 1) and 20 December at 03:00 (round 2, for the
  members whose bank refused round 1), for the year: still inside the calendar-year
  back-payment window;
- close the year, 2 January at 04:00, for the year before: its unpaid months become gaps
  (every member enrolled that year, whatever the method);
- transfer timeouts, every day at 06:00: a transfer still in transit
  ``TRANSFER_TIMEOUT_DAYS`` after it left goes back to the source;
- interest, 15 January at 05:00 (round 1) and 1 July at 05:00 (round 2: the official rate
  is usually published by then; only differences are posted), for the year before;
- pensions, the 10th of each month at 07:00, for that month: every awarded member's
  pension (``pensions_run``, as ``flexledger jobs run pensions``); a member awarded later
  in the month is paid by running the month again by hand (the same key: only the new
  members' entries are written). The day is the ledger's convention, not a sourced one:
  regions pay on their own days;
- the outbox relay, every ``RELAY_SECONDS``: whatever a commit left unsent (a broker that
  was down, a follow-up message) goes out, and messages lost in the broker are sent again
  (``outbox.resend_stale``).
A run that fails at its time (database or Redis down) is tried again every minute.
A period the scheduler missed (it was down) can be run by hand with ``flexledger jobs
run``: its key is the same, so running it twice is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import dramatiq
from sqlalchemy import Connection, Engine

from ledger.domain.period import Month
from ledger.domain.schemes import Scheme
from workers import outbox
from workers.schedule import (
    DEFAULT_BATCH,
    TRANSFER_TIMEOUT_DAYS,
    Run,
    affiliate_fees_run,
    bank_deduction_run,
    close_year_run,
    interest_run,
    pensions_run,
    start,
    transfer_timeouts_run,
)

RELAY_SECONDS = 5


RETRY_SECONDS = 60


TIMEZONE = "Asia/Shanghai"


logger = logging.getLogger(__name__)


def periodic_runs() -> list[tuple[str, dict[str, Any], Callable[[Connection, date], Run]]]:
    pension = Scheme.PENSION

    return [
        (
            "affiliate-fees",
            {"day": 20, "hour": 2},
            lambda c, d: affiliate_fees_run(c, Month.of(d), d, DEFAULT_BATCH),
        ),
        (
            "bank-deduction",
            {"month": 12, "day": 1, "hour": 3},
            lambda c, d: bank_deduction_run(c, d.year, pension, d, d.year, DEFAULT_BATCH),
        ),
        (
            "bank-deduction#2",
            {"month": 12, "day": 20, "hour": 3},
            lambda c, d: bank_deduction_run(c, d.year, pension, d, d.year, DEFAULT_BATCH, 2),
        ),
        (
            "close-year",
            {"month": 1, "day": 2, "hour": 4},
            lambda c, d: close_year_run(c, d.year - 1, pension, d, DEFAULT_BATCH),
        ),
        (
            "interest",
            {"month": 1, "day": 15, "hour": 5},
            lambda c, d: interest_run(c, d.year - 1, pension, DEFAULT_BATCH),
        ),
        (
            "transfer-timeouts",
            {"hour": 6},
            lambda c, d: transfer_timeouts_run(c, d, TRANSFER_TIMEOUT_DAYS),
        ),
        (
            "interest#2",
            {"month": 7, "day": 1, "hour": 5},
            lambda c, d: interest_run(c, d.year - 1, pension, DEFAULT_BATCH, 2),
        ),
        (
            "pensions",
            {"day": 10, "hour": 7},
            lambda c, d: pensions_run(c, Month.of(d), d, DEFAULT_BATCH),
        ),
    ]


PERIODIC = [(name, cron) for name, cron, _ in periodic_runs()]


def scheduler(
    engine: Engine,
    broker: dramatiq.Broker,
    today: Callable[[], date],
    resend_after_s: float = 1800,
):
    """A BlockingScheduler with the periodic runs and the relay; ``.start()`` blocks.

    A run that fails (the database or Redis is down at the time) is tried again every
    ``RETRY_SECONDS`` until it succeeds: the next cron time may be a year away. The relay
    job also hands again messages lost in the broker (``outbox.resend_stale``).
    """
    from zoneinfo import ZoneInfo

    from apscheduler.schedulers.blocking import BlockingScheduler

    zone = ZoneInfo(TIMEZONE)
    found = BlockingScheduler(timezone=zone)

    def fire(name: str, build: Callable[[Connection, date], Run]) -> None:
        try:
            start(engine, lambda conn: build(conn, today()), broker)
        except Exception:
            logger.exception("run %s failed; trying again in %s s", name, RETRY_SECONDS)
            found.add_job(
                fire,
                "date",
                args=(name, build),
                id=f"{name}:retry",
                replace_existing=True,
                run_date=datetime.now(zone) + timedelta(seconds=RETRY_SECONDS),
            )

    def relay() -> None:
        outbox.relay_all(engine, broker)
        if outbox.resend_stale(engine, broker, resend_after_s):
            outbox.relay_all(engine, broker)

    for name, cron, build in periodic_runs():
        found.add_job(
            fire,
            "cron",
            args=(name, build),
            id=name,
            name=name,
            coalesce=True,
            misfire_grace_time=6 * 3600,
            max_instances=1,
            **cron,
        )
    found.add_job(
        relay,
        "interval",
        seconds=RELAY_SECONDS,
        id="relay",
        name="relay",
        coalesce=True,
        max_instances=1,
    )
    return found
