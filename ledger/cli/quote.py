"""``flexledger quote`` (one contribution) and ``flexledger quote-table`` (every region)."""

from __future__ import annotations

from datetime import date

import click

from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.domain.errors import LedgerError
from ledger.domain.money import format_yuan
from ledger.domain.period import Month, parse_datetime
from ledger.domain.policy import default_policy
from ledger.domain.rules.contribution import Assessment, BaseChoice, assess
from ledger.domain.schemes import Scheme


@cli.command("quote")
@click.option("--region", required=True, help="Region code, e.g. 110000 (Beijing).")
@click.option("--scheme", default="pension", show_default=True, help="|".join(Scheme))
@click.option("--period", required=True, help="Contribution month, YYYY-MM.")
@click.option("--base-percent", help="Base as a percent of the average wage, e.g. 60.")
@click.option("--base", "base_amount", help="Base as an amount in yuan, e.g. 7162.")
@click.option("--grade", help="A fixed grade (percent; yuan a year for resident-pension).")
@click.option("--known-at", help="Use the policy as it was known at this date or time.")
@json_option
def quote(
    region: str,
    scheme: str,
    period: str,
    base_percent: str | None,
    base_amount: str | None,
    grade: str | None,
    known_at: str | None,
    as_json: bool,
) -> None:
    """What one month's contribution costs and how it splits."""
    assessment = assess(
        default_policy(),
        region,
        Scheme.parse(scheme),
        Month.parse(period, "period"),
        BaseChoice.of(percent=base_percent, amount=base_amount, grade=grade),
        known_at=parse_datetime(known_at, "known_at") if known_at else None,
    )
    if as_json:
        print_json(assessment.as_json())
        return
    data = assessment.as_json()
    rows = [
        (key, data[key])
        for key in ("base", "total", "personal", "pooling", "subsidy", "rate", "floor", "ceiling")
        if data[key] is not None
    ]
    name = default_policy().region(region).name
    print_table(f"{scheme} in {name} ({region}), {period}", ("item", "yuan"), rows)
    click.echo("sources: " + "; ".join(assessment.sources))


def _row(assessment: Assessment | None) -> list[str]:
    if assessment is None:
        return ["—"] * 4
    base = "—" if assessment.base_fen is None else format_yuan(assessment.base_fen)
    return [base] + [
        format_yuan(v)
        for v in (assessment.total_fen, assessment.personal_fen, assessment.pooling_fen)
    ]


@cli.command("quote-table")
@click.option("--period", help="Contribution month, YYYY-MM (default: this month).")
@click.option("--base-percent", default="60", show_default=True, help="Base percent to quote.")
@json_option
def quote_table(period: str | None, base_percent: str, as_json: bool) -> None:
    """Pension and medical contributions in every region the policy files know."""
    policy = default_policy()
    month = Month.parse(period, "period") if period else Month.of(date.today())
    choice = BaseChoice.of(percent=base_percent)
    rows: list[list[str]] = []
    records: list[dict[str, object]] = []
    for code, region in sorted(policy.regions.items()):
        found: dict[str, Assessment | None] = {}
        for scheme in (Scheme.PENSION, Scheme.MEDICAL):
            try:
                found[scheme] = assess(policy, code, scheme, month, choice)
            except LedgerError:
                found[scheme] = None  # shown as a dash: no figure in force for this month
        rows.append(
            [code, region.name, *_row(found[Scheme.PENSION]), _row(found[Scheme.MEDICAL])[1]]
        )
        records.append(
            {"region": code, "name": region.name}
            | {s.value: (a.as_json() if a else None) for s, a in found.items()}
        )
    if as_json:
        print_json({"period": str(month), "base_percent": base_percent, "regions": records})
        return
    print_table(
        f"Contributions at {base_percent}% of the average wage, {month}",
        ("region", "name", "pension base", "pension", "personal", "pooling", "medical"),
        rows,
    )
