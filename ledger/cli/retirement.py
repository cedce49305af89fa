"""``flexledger retirement``: the statutory retirement age a citizen ID number implies.

Birth date and sex come from the ID number (GB 11643-1999); the category defaults to the
sex's (women insured as flexible employees retire from 55). Ages are printed as
``60y1m``; ``age_months`` in JSON is the whole age in months (60y1m → 721).
"""

from __future__ import annotations

import click

from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.domain.errors import BadInput
from ledger.domain.identity import parse_citizen_id
from ledger.domain.policy import default_policy
from ledger.domain.rules.pension import (
    Category,
    default_category,
    divisor,
    minimum_months,
    retirement,
)


@cli.command("retirement")
@click.option("--id", "id_number", required=True, help="18-character citizen ID number.")
@click.option(
    "--category",
    type=click.Choice([c.value for c in Category]),
    help="Retirement category (default: male for men, female-55 for women).",
)
@json_option
def retirement_command(id_number: str, category: str | None, as_json: bool) -> None:
    """When the holder of an ID number reaches the statutory retirement age."""
    policy = default_policy()
    citizen = parse_citizen_id(id_number, field="id")
    sex = str(citizen.sex)
    chosen = Category(category) if category else default_category(sex)
    if chosen.sex != sex:
        raise BadInput("category", f"{chosen.value!r} is not a category for a {sex} member")
    reached = retirement(citizen.birth_date, chosen, policy)
    minimum = minimum_months(reached.month.year, policy)
    months_divisor = divisor(reached.age_years, reached.age_extra_months, policy)
    # The default table has one whole number per year of age.
    divisor_value: int | str = (
        months_divisor.numerator if months_divisor.denominator == 1 else str(months_divisor)
    )
    data = {
        "id": citizen.number,
        "birth_date": citizen.birth_date.isoformat(),
        "sex": sex,
        "category": chosen.value,
        "age_years": reached.age_years,
        "age_months": reached.age_months,
        "retirement_month": str(reached.month),
        "retirement_date": reached.date.isoformat(),
        "delay_months": reached.delay_months,
        "minimum_months": minimum,
        "divisor": divisor_value,
    }
    if as_json:
        print_json(data)
        return
    rows = [
        ("birth date", data["birth_date"]),
        ("sex", sex),
        ("category", chosen.value),
        ("retirement age", reached.age_label),
        ("retirement month", data["retirement_month"]),
        ("retirement date", data["retirement_date"]),
        ("delay (months)", str(reached.delay_months)),
        (f"minimum contribution months ({reached.month.year})", str(minimum)),
        ("divisor at that age", str(divisor_value)),
    ]
    print_table(f"Retirement for {citizen.number}", ("item", "value"), rows)
    click.echo(f"source: {reached.rule_source}")
