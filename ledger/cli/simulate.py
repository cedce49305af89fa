"""``flexledger simulate``: a population paying over decades, into the configured ledger."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.cli.context import settings
from ledger.domain.clock import FixedClock
from ledger.domain.errors import BadInput
from ledger.operations.services import Ledger
from ledger.simulate import Scenario, Simulation
from ledger.simulate.summary import summarise
from ledger.store.db import make_engine, upgrade
from workers.sequence import Sequencer


@cli.command("simulate")
@click.option("--members", default=1000, show_default=True, type=int)
@click.option("--years", default=10, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--start",
    "start_year",
    default=2017,
    show_default=True,
    type=click.IntRange(1900, 2200),
    help="First calendar year simulated.",
)
@click.option("--regions", help="Comma-separated region codes (default: the scenario's).")
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(dir_okay=False),
    help="TOML file overriding the default behaviour.",
)
@json_option
def simulate(
    members: int,
    years: int,
    seed: int,
    start_year: int,
    regions: str | None,
    scenario_path: str | None,
    as_json: bool,
) -> None:
    """Simulate members paying over the years, then summarise the ledger it wrote."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if members <= 0:
        raise BadInput("members", "must be at least 1")
    if not 1 <= years <= 60:
        raise BadInput("years", "must be 1 to 60")
    scenario = Scenario.load(scenario_path)
    region_list = [r.strip() for r in regions.split(",")] if regions else None

    engine = make_engine(settings().database_url)
    upgrade(engine)
    ledger = Ledger(engine, FixedClock(datetime(start_year, 1, 1, tzinfo=UTC)))
    for code in region_list or []:
        ledger.policy.region(code)
    started = time.perf_counter()
    with (
        Sequencer(settings(), engine) as sequencer,
        Progress(
            TextColumn("simulating"),
            BarColumn(),
            TextColumn("{task.fields[month]}"),
            TimeRemainingColumn(),
            transient=True,
            disable=as_json,
        ) as bar,
    ):
        task = bar.add_task("months", total=years * 12, month="")
        simulation = Simulation(
            ledger,
            scenario,
            seed=seed,
            members=members,
            years=years,
            start=start_year,
            regions=region_list,
            sequencer=sequencer,
            progress=lambda done, total: bar.update(task, completed=done, month=f"{done}/{total}"),
        )
        result = simulation.run()
    with engine.connect() as conn:
        summary = summarise(
            conn, result, result.last.first_day.replace(day=28), time.perf_counter() - started
        )
    data = summary.as_json()
    if as_json:
        print_json(data)
        return
    rows = [(k, v) for k, v in data.items() if not isinstance(v, dict)]
    print_table(
        f"Simulation: {members} members, {years} years from {start_year}, seed {seed}",
        ("figure", "value"),
        rows,
    )
    print_table(
        "Pooling funds (credit balances)",
        ("scheme:region", "yuan"),
        sorted(data["pooling"].items()),
    )
    if data["pensions_from_pooling"]:
        print_table(
            "Pensions paid from the pooling funds",
            ("scheme:region", "yuan"),
            sorted(data["pensions_from_pooling"].items()),
        )
