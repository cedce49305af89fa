"""``flexledger retire`` and ``flexledger death``: the benefit phase's recorded decisions.

``retire`` awards a pension (``ledger.operations.retirements.award_pension``) and prints every
input with the result; for a member short of the minimum months it refuses (exit 2) unless
``--short pay-on|resident|refund`` records the member's explicit choice. ``death``
records a death: the personal account left is owed to the heirs, the pension stops after
that month. The same command again writes nothing; a different one is refused.
"""

from __future__ import annotations

from fractions import Fraction

import click
from sqlalchemy import select

from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.cli.context import open_ledger
from ledger.domain.errors import BadInput
from ledger.domain.money import format_yuan
from ledger.domain.period import parse_date
from ledger.domain.rules.pension import Category
from ledger.operations.deaths import record_death
from ledger.operations.pensions import CHOICES, find_event
from ledger.operations.resident_pensions import award_resident_pension
from ledger.operations.retirements import award_pension, record_short_choice
from ledger.store.tables import pension_awards


def _decimal(value: Fraction, places: int = 6) -> str:
    scaled = round(value * 10**places)
    return f"{scaled // 10**places}.{scaled % 10**places:0{places}d}"


@cli.command("retire")
@click.option("--member", required=True, help="The member's citizen ID number.")
@click.option("--on", "on_text", required=True, help="The retirement date (YYYY-MM-DD).")
@click.option(
    "--short",
    type=click.Choice(CHOICES),
    help="For a member short of the minimum months: pay on until the minimum, move to the "
    "residents' pension, or end the insurance with the personal account refunded.",
)
@click.option(
    "--category",
    type=click.Choice([c.value for c in Category]),
    help="Retirement category (default: male for men, female-55 for women; female-50 for "
    "women workers retiring from 50, NPC decision 2024-09-13).",
)
@click.option(
    "--scheme",
    type=click.Choice(["employee", "resident"]),
    default="employee",
    show_default=True,
    help="The pension awarded: the employee pension, or the residents' pension (from 60 "
    "with 15 years: basic minimum + personal account ÷ 139, 国发〔2014〕8号).",
)
@json_option
def retire(
    member: str,
    on_text: str,
    short: str | None,
    category: str | None,
    scheme: str,
    as_json: bool,
) -> None:
    """Award a member's pension at retirement, computed from the ledger's own months."""

    on = parse_date(on_text, "on")
    ledger = open_ledger()
    if short is not None:
        with ledger.unit_of_work() as conn:
            moved = record_short_choice(ledger, conn, member, on, short, category)
            number = ledger.member(conn, member).id
            event = find_event(conn, number, "short-of-minimum")
        data = {
            "member": number,
            "on": on.isoformat(),
            "choice": short,
            "detail": event.detail,
            "entries": [
                {
                    "entry": r.id,
                    "new": r.created,
                    "kind": r.draft.kind.value,
                    "amount": format_yuan(r.draft.postings[0].amount_fen),
                }
                for r in moved
            ],
        }
        if as_json:
            print_json(data)
        else:
            print_table(
                f"short of the minimum: {number}",
                ("item", "value"),
                [("chose", short), ("on", data["on"]), ("why", event.detail)]
                + [(f"entry {e['entry']} ({e['kind']})", e["amount"]) for e in data["entries"]],
            )
        return
    if scheme == "resident":
        if short is not None or category is not None:
            raise BadInput("scheme", "--short and --category are for the employee pension")
        _retire_resident(ledger, member, on, as_json)
        return
    with ledger.unit_of_work() as conn:
        award = award_pension(ledger, conn, member, on, category)
        row = conn.execute(
            select(pension_awards).where(
                pension_awards.c.member_id == award.member_id, pension_awards.c.scheme == "pension"
            )
        ).one()
    average = Fraction(row.average_index)
    data = {
        "member": row.member_id,
        "new": award.created,
        "region": row.region,
        "retired_on": row.retired_on.isoformat(),
        "first_month": row.first_month,
        "age": f"{row.age_years}y{row.age_extra_months}m",
        "months_counted": row.months_counted,
        "minimum_months": row.minimum_months,
        "average_index": row.average_index,
        "average_index_decimal": _decimal(average),
        "calculation_base": format_yuan(row.calculation_base_fen),
        "personal_balance": format_yuan(row.personal_balance_fen),
        "divisor": row.divisor,
        "basic": format_yuan(row.basic_fen),
        "personal": format_yuan(row.personal_fen),
        "total": format_yuan(row.total_fen),
        "sources": row.sources.split("\n"),
    }
    if as_json:
        print_json(data)
        return
    rows = [
        ("region paying", row.region),
        ("retired on", data["retired_on"]),
        ("first month paid", row.first_month),
        ("age", data["age"]),
        ("months counted", str(row.months_counted)),
        ("minimum months", str(row.minimum_months)),
        ("average contribution index", data["average_index_decimal"]),
        ("calculation base (C)", data["calculation_base"]),
        ("personal account", data["personal_balance"]),
        ("divisor (months)", str(Fraction(row.divisor))),
        ("basic pension", data["basic"]),
        ("personal-account pension", data["personal"]),
        ("monthly pension", data["total"]),
    ]
    title = f"pension award {row.member_id}" + ("" if award.created else " (recorded before)")
    print_table(title, ("item", "value"), rows)
    for source in data["sources"]:
        click.echo(f"source: {source}")


def _retire_resident(ledger, member: str, on, as_json: bool) -> None:  # type: ignore[no-untyped-def]

    with ledger.unit_of_work() as conn:
        row = award_resident_pension(ledger, conn, member, on)
    data = {
        "member": row.member_id,
        "scheme": row.scheme,
        "region": row.region,
        "retired_on": row.retired_on.isoformat(),
        "first_month": row.first_month,
        "age": f"{row.age_years}y{row.age_extra_months}m",
        "years_counted": row.months_counted // 12,
        "personal_balance": format_yuan(row.personal_balance_fen),
        "divisor": row.divisor,
        "basic": format_yuan(row.basic_fen),
        "personal": format_yuan(row.personal_fen),
        "total": format_yuan(row.total_fen),
        "sources": row.sources.split("\n"),
    }
    if as_json:
        print_json(data)
        return
    print_table(
        f"residents' pension award {row.member_id}",
        ("item", "value"),
        [
            ("region paying", row.region),
            ("retired on", data["retired_on"]),
            ("first month paid", row.first_month),
            ("age", data["age"]),
            ("years counted", str(data["years_counted"])),
            ("personal account", data["personal_balance"]),
            ("divisor (months)", str(Fraction(row.divisor))),
            ("basic pension", data["basic"]),
            ("personal-account pension", data["personal"]),
            ("monthly pension", data["total"]),
        ],
    )
    for source in data["sources"]:
        click.echo(f"source: {source}")


@cli.command("death")
@click.option("--member", required=True, help="The member's citizen ID number.")
@click.option("--on", "on_text", required=True, help="The date of death (YYYY-MM-DD).")
@json_option
def death(member: str, on_text: str, as_json: bool) -> None:
    """Record a death: the pension stops after that month, the personal account left is
    owed to the heirs (Social Insurance Law Art. 14)."""
    on = parse_date(on_text, "on")
    ledger = open_ledger()
    with ledger.unit_of_work() as conn:
        moved = record_death(ledger, conn, member, on)
        number = ledger.member(conn, member).id
    inherited = sum(
        -p.amount_fen for r in moved for p in r.draft.postings if p.account.startswith("heirs:")
    )
    data = {
        "member": number,
        "died_on": on.isoformat(),
        "to_heirs": format_yuan(inherited),
        "entries": [r.id for r in moved],
    }
    if as_json:
        print_json(data)
    else:
        print_table(
            f"death of {number}",
            ("item", "value"),
            [("died on", data["died_on"]), ("owed to the heirs now", data["to_heirs"])],
        )
