"""``flexledger id check NUMBER``: validate a citizen ID number and show what it encodes.

A refused number raises ``InvalidCitizenId``; ``run()`` turns it into exit code 2 and one
stderr line naming the field and the rule.
"""

from __future__ import annotations

import click

from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.domain.identity import parse_citizen_id


@cli.group("id")
def id_group() -> None:
    """Citizen ID numbers (GB 11643-1999), which are also social security numbers."""


@id_group.command("check")
@click.argument("number")
@json_option
def check(number: str, as_json: bool) -> None:
    """Validate NUMBER (18 characters, or a 15-digit legacy number) and show its parts."""
    citizen_id = parse_citizen_id(number, field="id")
    if as_json:
        print_json(
            {
                "id": citizen_id.number,
                "birth_date": citizen_id.birth_date.isoformat(),
                "sex": str(citizen_id.sex),
                "region": citizen_id.region_code,
                "region_name": citizen_id.region_name,
                "upgraded_from": citizen_id.upgraded_from,
            }
        )
        return
    # One row per part: a vertical table stays readable in an 80-column terminal.
    rows = [
        ("id", citizen_id.number),
        ("birth date", citizen_id.birth_date.isoformat()),
        ("sex", str(citizen_id.sex)),
        ("region", citizen_id.region_code),
        ("region name", citizen_id.region_name or "unknown"),
    ]
    if citizen_id.upgraded_from is not None:
        rows.append(("upgraded from", citizen_id.upgraded_from))
    print_table("citizen ID", ("field", "value"), rows)
