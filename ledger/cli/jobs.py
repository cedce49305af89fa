"""``flexledger jobs …`` and ``flexledger transfer``: runs of the workers, and their state.

Without ``FLEXLEDGER_REDIS_URL`` (the embedded default) ``jobs run`` writes the run's
messages to the outbox, relays them to the in-process broker and runs an in-process
worker until they are all done or failed. With it, ``jobs run`` only enqueues (the
``flexledger worker`` processes do the work) unless ``--wait``. Exit code 1 when a message
of the run failed (``jobs status`` lists it, ``jobs retry`` re-queues it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.config import Settings
from ledger.domain import keys
from ledger.domain.errors import BadInput, RunFailed
from ledger.domain.identity import parse_citizen_id
from ledger.domain.money import format_yuan
from ledger.domain.period import Month, parse_date
from ledger.domain.schemes import Scheme
from ledger.operations import transfers
from ledger.operations.temporary import temporary_account
from workers import outbox, runtime, schedule
from workers.app import start
from workers.broker import BrokerOptions, is_embedded
from workers.schedule import (
    TRANSFER_TIMEOUT_DAYS,
    affiliate_fees_run,
    bank_deduction_run,
    close_year_run,
    contributions_run,
    interest_run,
    pensions_run,
    transfer_run,
    transfer_timeouts_run,
)

EMBEDDED_THREADS = 4


def open_runtime(settings: Settings):
    """The broker (configured first, then the actors) and this process's runtime."""
    return start(settings)


def _report(run_key: str, total: int, written: int, engine: Any, as_json: bool) -> None:

    state = outbox.progress(engine, run_key)
    with engine.connect() as conn:
        failed = outbox.messages_with_errors(conn, run_key, "failed")
        refused = outbox.messages_with_errors(conn, run_key, "done")
    if as_json:
        print_json(
            {
                **state,
                "messages": total,
                "new_messages": written,
                "failures": failed,
                "refusals": refused,
            }
        )
    else:
        print_table(
            f"run {run_key}",
            ("messages", "new", "queued", "running", "done", "failed", "entries posted"),
            [
                (
                    str(total),
                    str(written),
                    str(state["queued"]),
                    str(state["running"]),
                    str(state["done"]),
                    str(state["failed"]),
                    str(state["posted"]),
                )
            ],
        )
        errors_table("failed messages", failed)
        errors_table("members refused (the rest of their batch committed)", refused)
    if state["failed"]:
        raise RunFailed(
            f"{state['failed']} message(s) of run {run_key} failed: `flexledger jobs retry "
            f"--run {run_key}` re-queues them once the cause is fixed"
        )


def errors_table(title: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        print_table(
            title,
            ("message", "run", "job", "attempts", "last error"),
            [
                (r["message_id"], r["run"], r["job"], str(r["attempts"]), r["last_error"] or "")
                for r in rows
            ],
        )


def _execute(
    build: Callable[[Any], Any],
    opts: dict[str, Any],
    check: Callable[[Any, Any], Any] | None = None,
    after: Callable[[Any], None] | None = None,
) -> None:
    """Write the run ``build`` plans, run it (embedded) or follow it (``--wait``), report.

    ``check(ledger, conn)``, if given, first does the run's work in a transaction that is
    rolled back: a request the rules refuse is refused here, exit code 2, before any
    message is written (a message, once written, is done once and never again).
    ``after(engine)`` prints what the run did, instead of the run's own report.
    """
    settings = Settings.from_env()
    broker, rt = open_runtime(settings)
    engine = rt.engine()
    try:
        if check is not None:
            ledger = rt.ledger()
            with engine.connect() as conn:
                trial = conn.begin()
                try:
                    check(ledger, conn)
                finally:
                    trial.rollback()
                    ledger.recorder.rolled_back()
        run, written = schedule.start(engine, build, broker)
        total = len(run.messages)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=Console(stderr=True), disable=opts["as_json"]) as bar:
            task = bar.add_task(run.key, total=total)

            def tick() -> None:
                state = outbox.progress(engine, run.key)
                bar.update(task, completed=state["done"] + state["failed"])

            if is_embedded(broker):
                runtime.drain(engine, broker, opts["threads"], tick)
            elif opts["wait"]:
                resend_s = BrokerOptions.from_env().resend_after_ms / 1000
                runtime.wait(engine, broker, run.key, opts["timeout"], tick, 0.5, resend_s)
        if after is None:
            _report(run.key, total, written, engine, opts["as_json"])
        else:
            after(engine)
    finally:
        rt.dispose()


def _run_options(func: Any) -> Any:
    options = [
        click.option(
            "--batch-size",
            default=100,
            show_default=True,
            type=click.IntRange(min=1),
            help="Members per message.",
        ),
        click.option(
            "--threads",
            default=EMBEDDED_THREADS,
            show_default=True,
            type=click.IntRange(1, 64),
            help="Worker threads of the embedded worker (no FLEXLEDGER_REDIS_URL).",
        ),
        click.option("--wait", is_flag=True, help="With Redis: wait until the run is finished."),
        click.option(
            "--timeout", type=click.FloatRange(min=0), help="Seconds --wait waits at most."
        ),
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _today(value: str | None) -> date:
    return parse_date(value, "today") if value else datetime.now().date()


# The years months may name (ledger.period.Month): a year outside them is refused as input,
# before a run is planned, not as a failed message afterwards.
YEAR = click.IntRange(1900, 2200)


def _round_option(help_text: str) -> Callable[[Any], Any]:
    """``--round``: a run of the same job again, under a key of its own (1 to 99)."""
    return click.option(
        "--round",
        "round_",
        default=1,
        show_default=True,
        type=click.IntRange(1, 99),
        help=help_text,
    )


@cli.group("jobs")
def jobs_group() -> None:
    """Run, inspect and retry the workers' jobs."""


@jobs_group.group("run")
def run_group() -> None:
    """Start a job run: one message per batch of members, processed by the workers."""


@run_group.command("bank-deduction")
@click.option("--year", type=YEAR, required=True, help="1900 to 2200, as months are.")
@click.option("--scheme", default="pension", show_default=True)
@click.option("--today", help="The run's day (default today): months up to it are due.")
@click.option("--seed", type=int, help="The simulated bank's seed (default the year).")
@_round_option(
    "A further run of the year: 2, 3 … (in Shanghai, where a month is collected only in "
    "the month, one run a month)"
)
@_run_options
def run_bank(
    year: int, scheme: str, today: str | None, seed: int | None, round_: int, **opts: Any
) -> None:
    """Deduct every withholding member's unpaid months of YEAR, one bank call each."""
    chosen, day = Scheme.parse(scheme), _today(today)
    _execute(
        lambda c: bank_deduction_run(
            c, year, chosen, day, year if seed is None else seed, opts["batch_size"], round_
        ),
        opts,
    )


@run_group.command("affiliate-fees")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--today", help="The day the company pays (default today).")
@_run_options
def run_fees(month: str, today: str | None, **opts: Any) -> None:
    """Post the contributions HR companies pay for MONTH and their fees."""
    period, day = Month.parse(month), _today(today)
    _execute(lambda c: affiliate_fees_run(c, period, day, opts["batch_size"]), opts)


@run_group.command("interest")
@click.option("--year", type=YEAR, required=True, help="1900 to 2200, as months are.")
@click.option("--scheme", default="pension", show_default=True)
@_round_option("A further run (a new rate was published): 2, 3 …")
@_run_options
def run_interest(year: int, scheme: str, round_: int, **opts: Any) -> None:
    """Credit YEAR's interest to every personal account."""
    chosen = Scheme.parse(scheme)
    _execute(lambda c: interest_run(c, year, chosen, opts["batch_size"], round_), opts)


@run_group.command("close-year")
@click.option("--year", type=YEAR, required=True, help="1900 to 2200, as months are.")
@click.option("--scheme", default="pension", show_default=True)
@click.option("--today", help="The run's day (default today); must be after YEAR.")
@_run_options
def run_close_year(year: int, scheme: str, today: str | None, **opts: Any) -> None:
    """Record the months of YEAR no withholding member can pay any more as gaps."""
    chosen, day = Scheme.parse(scheme), _today(today)
    _execute(lambda c: close_year_run(c, year, chosen, day, opts["batch_size"]), opts)


@run_group.command("pensions")
@click.option("--month", required=True, help="YYYY-MM: the month whose pensions are paid.")
@click.option("--today", help="The day they are paid (default today), in the month or after.")
@_run_options
def run_pensions(month: str, today: str | None, **opts: Any) -> None:
    """Pay MONTH's pension to every member awarded one (`flexledger retire`)."""
    period, day = Month.parse(month), _today(today)
    if day > datetime.now().date():
        raise BadInput("today", f"{day} is in the future")
    _execute(lambda c: pensions_run(c, period, day, opts["batch_size"]), opts)


@run_group.command("contributions", hidden=True)
@click.option("--scheme", default="pension", show_default=True)
@click.option("--from", "first", required=True)
@click.option("--to", "last", required=True)
@click.option("--paid-on", required=True)
@_run_options
def run_contributions(scheme: str, first: str, last: str, paid_on: str, **opts: Any) -> None:
    """Every enrolled member pays FROM..TO on PAID-ON (for tests and back-fills)."""
    chosen, start, end = Scheme.parse(scheme), Month.parse(first), Month.parse(last)
    day = parse_date(paid_on, "paid_on")
    _execute(lambda c: contributions_run(c, chosen, start, end, day, opts["batch_size"]), opts)


@run_group.command("transfer-timeouts")
@click.option("--today", help="The sweep's day (default today).")
@click.option(
    "--after-days",
    type=click.IntRange(min=0, max=36_500),
    help="Return transfers in transit longer than this (default 45: 国办发〔2009〕66号 "
    "Art. 8 gives each side 15 working days).",
)
@_run_options
def run_transfer_timeouts(today: str | None, after_days: int | None, **opts: Any) -> None:
    """Return to their source the transfers the destination has not accepted in time."""
    day = _today(today)
    days = TRANSFER_TIMEOUT_DAYS if after_days is None else after_days
    _execute(lambda c: transfer_timeouts_run(c, day, days), opts)


@cli.command("transfer")
@click.option("--member", required=True, help="The member's citizen ID number.")
@click.option("--scheme", default="pension", show_default=True, help="pension or medical")
@click.option("--to", "to_region", required=True, help="The destination's region code.")
@click.option("--on", "on_text", required=True, help="The day of the request (YYYY-MM-DD).")
@click.option(
    "--threads",
    default=EMBEDDED_THREADS,
    show_default=True,
    help="Worker threads of the embedded worker (no FLEXLEDGER_REDIS_URL).",
)
@click.option("--wait", is_flag=True, help="With Redis: wait until the transfer is settled.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Seconds --wait waits at most.")
@json_option
def transfer(
    member: str,
    scheme: str,
    to_region: str,
    on_text: str,
    threads: int,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Move a member's pension or medical insurance to another region (DOMAIN.md §5).

    The source posts the whole personal balance and, for the pension, 12% of each year's
    base since 1998 to transfers in transit; the destination accepts them into its pooling
    fund and the member's personal account there and enrols the member from the next
    month, or, if its rules refuse, the money goes back. Embedded, the workers run here
    and the settled transfer is printed; with Redis the request is queued (``--wait``
    follows it). The same request again changes nothing.
    """
    chosen, on = Scheme.parse(scheme), parse_date(on_text, "on")
    number = parse_citizen_id(member, field="member").number
    transfer_id = keys.transfer_id(number, chosen, to_region, on)

    def check(ledger: Any, conn: Any) -> None:
        if transfers.find_transfer(conn, transfer_id) is None:
            transfers.request_transfer(ledger, conn, number, chosen, to_region, on)

    def show(engine: Any) -> None:

        with engine.connect() as conn:
            found = transfers.find_transfer(conn, transfer_id)
            run_key = keys.transfer_run(transfer_id)
            problems = [
                p["last_error"]
                for status in ("failed", "done")
                for p in outbox.messages_with_errors(conn, run_key, status)
            ]
        if found is not None and found.returned_because:
            problems.insert(0, found.returned_because)
        status = found.status.value if found else "requested"
        if found is None and chosen is Scheme.PENSION:
            with engine.connect() as conn:
                opened = temporary_account(conn, number, to_region)
            if opened is not None:
                status = "temporary-account"
                problems.insert(0, opened.reason)
        row = {
            "transfer": transfer_id,
            "member": number,
            "scheme": chosen.value,
            "from": found.from_region if found else None,
            "to": to_region,
            "on": on.isoformat(),
            "status": status,
            "personal": format_yuan(found.personal_fen) if found else None,
            "pooling": format_yuan(found.pooling_fen) if found else None,
            "problems": problems,
        }
        if as_json:
            print_json(row)
            return
        print_table(
            f"transfer {transfer_id}",
            ("from", "to", "on", "status", "personal moved", "pooling moved"),
            [
                tuple(
                    "" if row[k] is None else str(row[k])
                    for k in ("from", "to", "on", "status", "personal", "pooling")
                )
            ],
        )
        for problem in problems:
            click.echo(problem)

    opts = {"threads": threads, "wait": wait, "timeout": timeout, "as_json": as_json}
    _execute(lambda _conn: transfer_run(transfer_id, on), opts, check, show)
