"""``flexledger report``: PNG plots and an HTML page over the configured ledger."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import func, select

from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.cli.context import open_ledger
from ledger.domain.errors import BadInput
from ledger.domain.period import parse_date
from ledger.report.figures import gather, support_rows, value_rows
from ledger.report.page import draw, write_page
from ledger.store.tables import entries


@cli.command("report")
@click.option("--out", default="report", show_default=True, type=click.Path(file_okay=False))
@click.option("--as-of", help="Date of the balances (default: the last entry's date).")
@click.option("--member", help="Member whose personal account to plot (default: the busiest).")
@json_option
def report(out: str, as_of: str | None, member: str | None, as_json: bool) -> None:
    """Write member_account.png, pooling_by_region.png, pensions_by_base.png and index.html;
    print contributors per pensioner by region and year and what each base bought."""

    ledger = open_ledger()
    with ledger.engine.connect() as conn:
        day = (
            parse_date(as_of, "as_of")
            if as_of
            else conn.execute(select(func.max(entries.c.effective_date))).scalar_one()
        )
        if day is None:
            day = ledger.clock.now().date()
        figures = gather(conn, ledger.policy, day, member)
    try:
        images = draw(figures, Path(out))
        page = write_page(figures, images, Path(out))
    except OSError as exc:  # a name too long, a parent that is a file, no permission
        raise BadInput("out", f"cannot write the report to {out!r}: {exc.strerror}") from exc
    support, value = support_rows(figures), value_rows(figures)
    if as_json:
        print_json(
            {
                "page": str(page),
                "images": [str(p) for p in images],
                "contributors_per_pensioner": support,
                "cost_effectiveness": value,
            }
        )
        return
    print_table(
        "Pension scheme: contributors per pensioner",
        ("region", "year", "contributors", "pensioners", "per pensioner"),
        [tuple("-" if v is None else str(v) for v in r.values()) for r in support],
    )
    print_table(
        "What each base bought (awarded members)",
        ("base", "members", "paid", "monthly pensions", "per 10,000 paid"),
        [tuple(str(v) for v in r.values()) for r in value],
    )
    click.echo(f"wrote {page} and {len(images)} plots")
