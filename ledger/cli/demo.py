"""``flexledger demo``: the main job on the embedded default, from nothing to an audit.

On an empty ledger it simulates a small population (300 members over 5 years, seed 7)
through the product's own rules, recorder and operations; on a ledger that already has
entries it simulates nothing. Either way it then prints what an auditor would look at
first: the quote table, the ledger by kind of entry, the pooling funds, one member's
personal account, the trial balance total and ``verify``'s verdict — and what to try next.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from sqlalchemy import func, select

from ledger.cli.base import cli, print_table
from ledger.cli.context import settings
from ledger.cli.quote import quote_table
from ledger.domain.clock import FixedClock
from ledger.domain.money import format_yuan
from ledger.operations.services import Ledger
from ledger.report.figures import busiest_member
from ledger.simulate import Scenario, Simulation
from ledger.store.balances import balance
from ledger.store.db import display_url, make_engine, upgrade
from ledger.store.tables import entries, postings
from ledger.store.totals import pooling_by_region, trial_balance
from ledger.store.verify import verify
from workers.sequence import Sequencer

MEMBERS, YEARS, SEED, START = 300, 5, 7, 2021


@cli.command("demo")
def demo() -> None:
    """Simulate a small population (if the ledger is empty), then show what it holds."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    url = settings().database_url
    engine = make_engine(url)
    upgrade(engine)
    click.echo(f"database: {display_url(url)}\n")
    click.get_current_context().invoke(
        quote_table, period="2026-07", base_percent="60", as_json=False
    )
    with engine.connect() as conn:
        empty = conn.execute(select(func.count()).select_from(entries)).scalar_one() == 0
    if empty:
        ledger = Ledger(engine, FixedClock(datetime(START, 1, 1, tzinfo=UTC)))
        with Progress(
            TextColumn(f"simulating {MEMBERS} members, {START}–{START + YEARS - 1}"),
            BarColumn(),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("months", total=YEARS * 12)
            with Sequencer(settings(), engine) as sequencer:
                Simulation(
                    ledger,
                    Scenario(),
                    seed=SEED,
                    members=MEMBERS,
                    years=YEARS,
                    start=START,
                    progress=lambda done, _t: bar.update(task, completed=done),
                    sequencer=sequencer,
                ).run()
    else:
        click.echo("the ledger already has entries: nothing simulated, showing what it holds\n")
    with engine.connect() as conn:
        as_of = conn.execute(select(func.max(entries.c.effective_date))).scalar_one()
        kinds = conn.execute(
            select(entries.c.kind, func.count()).group_by(entries.c.kind).order_by(entries.c.kind)
        ).all()
        n_postings = conn.execute(select(func.count()).select_from(postings)).scalar_one()
        print_table(
            f"Entries by kind ({n_postings:,} postings)",
            ("kind", "entries"),
            [(k, f"{n:,}") for k, n in kinds],
        )
        funds = [(s, r, format_yuan(v)) for s, r, v in pooling_by_region(conn, as_of)]
        print_table(
            f"Pooling funds as of {as_of} (credit balances)", ("scheme", "region", "yuan"), funds
        )
        member = busiest_member(conn)
        account = f"personal:pension:{member}"
        total = sum(amount for _, amount in trial_balance(conn, as_of))
        report = verify(conn)
        print_table(
            "Audit",
            ("check", "result"),
            [
                (f"{account} as of {as_of}", format_yuan(-balance(conn, account, as_of))),
                ("trial balance total (debit positive)", format_yuan(total)),
                (
                    "verify: hash chain, balances, anchors, checkpoints",
                    "OK" if report.ok else f"FAILED at entry {report.first_bad_entry}",
                ),
            ],
        )
    click.echo(
        "\nTry next:\n"
        f"  flexledger statement --member {member}\n"
        f"  flexledger balance pooling:pension:110000 --as-of {as_of} --known-at 2025-09-17\n"
        f"  flexledger trial-balance --as-of {as_of} --json\n"
        "  flexledger verify\n"
        "  flexledger export --format ledger --out ledger.journal\n"
        "  flexledger report --out report   (PNG plots and report/index.html)\n"
        "  FLEXLEDGER_DATABASE_URL=sqlite:///sim.db \\\n"
        "      flexledger simulate --members 1000 --years 40 --seed 7   (a new ledger, pensions\n"
        "      and deaths included: ~2 min)"
    )
