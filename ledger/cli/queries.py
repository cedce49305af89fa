"""The auditor's commands: balances on two time axes, statements, exports, checkpoints.

``balance``, ``trial-balance``, ``statement``, ``pooling``, ``months``, ``arrangements``
and ``export`` only read: they run in autocommit, so on SQLite they never take the write
lock that the store's ``BEGIN IMMEDIATE`` transactions would. ``checkpoint`` writes, in one
transaction. Tables for people, ``--json`` for programs; amounts are yuan strings with two
places (debit positive, credit negative, except ``pooling``, which is credit-positive).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy import Connection, Engine, func, select

from ledger import views
from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.config import Settings
from ledger.domain.clock import SystemClock
from ledger.domain.money import format_yuan
from ledger.domain.period import Month, parse_date, parse_datetime
from ledger.domain.policy import default_policy
from ledger.store import queries
from ledger.store.balances import known_cutoff
from ledger.store.checkpoints import make_checkpoints, make_grid
from ledger.store.db import open_engine
from ledger.store.export import export_csv, export_ledger
from ledger.store.tables import entries

KNOWN_AT_HELP = "Only entries recorded by then (ISO date or date-time; a date means its end)."


def _engine() -> Engine:

    return open_engine(Settings.from_env())


@contextmanager
def _reading() -> Iterator[Connection]:
    engine = _engine()
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
    finally:
        engine.dispose()


def _as_of(text: str) -> date:
    return parse_date(text, "as_of")


def _known_at(text: str | None) -> datetime | None:
    return queries.utc(parse_datetime(text, "known_at")) if text else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _axes(as_of: date | None, known_at: datetime | None) -> str:
    parts = [f"as of {as_of.isoformat()}" if as_of else "all dates"]
    if known_at:
        parts.append(f"as known at {known_at.isoformat()}")
    return ", ".join(parts)


@cli.command("balance")
@click.argument("account")
@click.option("--as-of", "as_of_text", required=True, help="Effective date, YYYY-MM-DD.")
@click.option("--known-at", "known_at_text", help=KNOWN_AT_HELP)
@json_option
def balance_command(
    account: str, as_of_text: str, known_at_text: str | None, as_json: bool
) -> None:
    """One account's balance (debit positive) as of a date, as known at a time."""
    as_of, known_at = _as_of(as_of_text), _known_at(known_at_text)
    with _reading() as conn:
        total = queries.balance(conn, account, as_of, known_at)
    if as_json:
        print_json(views.balance_view(account, as_of, known_at, total))
        return
    print_table(_axes(as_of, known_at), ("account", "balance"), [(account, format_yuan(total))])


@cli.command("trial-balance")
@click.option("--as-of", "as_of_text", required=True, help="Effective date, YYYY-MM-DD.")
@click.option("--known-at", "known_at_text", help=KNOWN_AT_HELP)
@json_option
def trial_balance_command(as_of_text: str, known_at_text: str | None, as_json: bool) -> None:
    """Every account with a non-zero balance (debit positive); the total is 0.00."""
    as_of, known_at = _as_of(as_of_text), _known_at(known_at_text)
    with _reading() as conn:
        rows = queries.trial_balance(conn, as_of, known_at)
    total = format_yuan(sum(amount for _, amount in rows))
    if as_json:
        print_json(views.trial_balance_view(as_of, known_at, rows))
        return
    table = [(name, format_yuan(amount)) for name, amount in rows] + [("total", total)]
    print_table(f"trial balance {_axes(as_of, known_at)}", ("account", "balance"), table)


@cli.command("statement")
@click.option("--member", "member_id", required=True, help="Citizen ID number.")
@click.option("--as-of", "as_of_text", help="Only postings effective by this date.")
@click.option("--known-at", "known_at_text", help=KNOWN_AT_HELP)
@click.option("--legs", is_flag=True, help="Also every posting, with running balances.")
@json_option
def statement_command(
    member_id: str,
    as_of_text: str | None,
    known_at_text: str | None,
    legs: bool,
    as_json: bool,
) -> None:
    """What the member owns and what each payment bought; every posting with ``--legs``."""
    as_of = _as_of(as_of_text) if as_of_text else None
    known_at = _known_at(known_at_text)
    with _reading() as conn:
        lines = queries.statement(conn, member_id, as_of, known_at)
    held = queries.holdings(member_id, lines)
    bought = queries.payments_bought(member_id, lines)
    if as_json:
        print_json(views.statement_view(member_id, as_of, known_at, lines, held, bought))
        return
    axes = _axes(as_of, known_at)
    print_table(
        f"accounts of {member_id}, {axes} (what the member owns: credit-positive)",
        ("account", "owned", "postings", "last posting"),
        [
            (h.account, format_yuan(h.owned_fen), str(h.postings), h.last_date.isoformat())
            for h in held
        ],
    )
    print_table(
        "what each payment bought",
        (
            "entry",
            "date",
            "kind",
            "period",
            "scheme",
            "region",
            "paid",
            "personal",
            "pooling",
            "subsidy",
            "personal after",
        ),
        [
            (
                str(p.entry_id),
                p.effective_date.isoformat(),
                p.kind,
                p.period or "",
                p.scheme or "",
                p.region or "",
                format_yuan(p.paid_fen),
                format_yuan(p.personal_fen),
                format_yuan(p.pooling_fen),
                format_yuan(p.subsidy_fen),
                format_yuan(p.personal_balance_fen),
            )
            for p in bought
        ],
    )
    if not legs:
        click.echo(f"{len(lines)} postings: --legs lists them with running balances")
        return
    columns = ("entry", "date", "kind", "period", "account", "amount", "balance", "reason")
    rows = [
        (
            str(line.entry_id),
            line.effective_date.isoformat(),
            line.kind,
            line.period or "",
            line.account,
            format_yuan(line.amount_fen),
            format_yuan(line.balance_fen),
            line.reason,
        )
        for line in lines
    ]
    print_table(f"statement of {member_id}, {axes}", columns, rows)


@cli.command("pooling")
@click.option("--as-of", "as_of_text", required=True, help="Effective date, YYYY-MM-DD.")
@click.option("--known-at", "known_at_text", help=KNOWN_AT_HELP)
@json_option
def pooling_command(as_of_text: str, known_at_text: str | None, as_json: bool) -> None:
    """Pooling funds by scheme and region, credit-positive (money in the fund is positive)."""
    as_of, known_at = _as_of(as_of_text), _known_at(known_at_text)
    with _reading() as conn:
        rows = queries.pooling_by_region(conn, as_of, known_at)
    if as_json:
        print_json(views.pooling_view(as_of, known_at, rows))
        return
    table = [(scheme, region, format_yuan(amount)) for scheme, region, amount in rows]
    title = f"pooling funds {_axes(as_of, known_at)} (credit-positive)"
    print_table(title, ("scheme", "region", "balance"), table)


@cli.command("months")
@click.option("--member", "member_id", help="Only this member (citizen ID number).")
@json_option
def months_command(member_id: str | None, as_json: bool) -> None:
    """Paid contribution months per member, scheme and region paid in (minimum years,
    10-year rule), and the region holding them now (they follow accepted transfers).
    With --member, also where the pension would be paid today and under which clause
    (国办发〔2009〕66号 Art. 6, DOMAIN.md §5)."""
    place = None
    with _reading() as conn:
        rows = queries.contribution_months(conn, member_id)
        if member_id is not None:
            place = queries.pension_place_of(conn, member_id, default_policy())
    where = views.pension_place_view(place)
    if as_json:
        print_json(views.months_view(rows, member_id, place))
        return
    table = [
        (r.member_id, r.scheme, r.region, str(r.months), r.first, r.last, r.held_in) for r in rows
    ]
    columns = ("member", "scheme", "paid in", "months", "first", "last", "held in")
    print_table("contribution months", columns, table)
    if where is not None:
        click.echo(
            f"pension paid in {where['region']} today: {where['clause']} ({where['reason']})"
        )
    elif member_id is not None:
        click.echo("pension paid in: no pension month paid yet")


@cli.command("arrangements")
@json_option
def arrangements_command(as_json: bool) -> None:
    """Every affiliated arrangement: members paying through an HR company (method agency)."""
    with _reading() as conn:
        rows = queries.affiliated_arrangements(conn)
    if as_json:
        print_json(views.arrangements_view(rows))
        return
    table = [
        (r.member_id, r.scheme, r.region, r.agency, r.from_month, r.to_month or "") for r in rows
    ]
    columns = ("member", "scheme", "region", "agency", "from", "to")
    print_table("affiliated arrangements", columns, table)


@cli.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ledger", "csv"]),
    required=True,
    help="ledger: a ledger-cli / hledger journal; csv: one row per posting.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout.")
def export_command(fmt: str, out: Path | None) -> None:
    """Write the whole ledger, deterministically, as a journal or CSV postings."""
    write = export_ledger if fmt == "ledger" else export_csv
    with _reading() as conn:
        if out is None:
            write(conn, sys.stdout)
            sys.stdout.flush()
            return
        with out.open("w", encoding="utf-8", newline="") as handle:
            count = write(conn, handle)
    noun = "entries" if fmt == "ledger" else "postings"
    click.echo(f"wrote {count} {noun} to {out}", err=True)


@cli.command("checkpoint")
@click.option("--as-of", "as_of_text", required=True, help="Effective date, YYYY-MM-DD.")
@click.option("--min-postings", default=1000, show_default=True, type=click.IntRange(min=1))
def checkpoint_command(as_of_text: str, min_postings: int) -> None:
    """Checkpoint the balances of busy accounts as of a date, through the last entry."""
    as_of = _as_of(as_of_text)
    engine = _engine()
    try:
        with engine.begin() as conn:
            count = make_checkpoints(conn, as_of, SystemClock(), min_postings)
    finally:
        engine.dispose()
    click.echo(f"made {count} checkpoints as of {as_of.isoformat()}")


MAX_GRID_MONTHS = 1200


@cli.command("checkpoint-grid")
@click.option("--from", "first_text", required=True, help="First month, YYYY-MM.")
@click.option("--to", "last_text", required=True, help="Last month, YYYY-MM.")
@click.option("--min-postings", default=1000, show_default=True, type=click.IntRange(min=1))
def checkpoint_grid_command(first_text: str, last_text: str, min_postings: int) -> None:
    """Checkpoints for both time axes: as of every month's end from --from to --to, through
    the last entry recorded by every month's end and the last entry (``make_grid``)."""

    first, last = Month.parse(first_text, "--from"), Month.parse(last_text, "--to")
    if last < first:
        raise click.BadParameter(f"{last} is before --from {first}", param_hint="--to")
    count_months = last.index - first.index + 1
    if count_months > MAX_GRID_MONTHS:
        raise click.BadParameter(f"at most {MAX_GRID_MONTHS} months", param_hint="--to")
    ends = [
        Month.from_index(first.index + n + 1).first_day - timedelta(days=1)
        for n in range(count_months)
    ]
    engine = _engine()
    try:
        with engine.begin() as conn:
            head = conn.execute(select(func.max(entries.c.id))).scalar() or 0
            ids = {
                known_cutoff(conn, datetime.combine(end, datetime.max.time(), UTC)) for end in ends
            }
            throughs = sorted(i for i in ids | {head} if i)
            count = make_grid(conn, ends, throughs, SystemClock(), min_postings)
    finally:
        engine.dispose()
    click.echo(
        f"made {count} checkpoints as of {len(ends)} month ends through {len(throughs)} entries"
    )
