"""Commands that write: members, enrolments, contributions, imports, corrections,
adjustments; and ``verify``, the auditor's proof that nothing was changed."""

from __future__ import annotations

import click

from ledger import views
from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.cli.context import open_ledger
from ledger.domain.errors import VerifyFailed
from ledger.domain.money import format_yuan
from ledger.domain.period import Month, parse_date
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations import payments
from ledger.operations.adjustments import post_adjustments
from ledger.operations.imports import import_members
from ledger.store.recorder import RecordedEntry
from ledger.store.verify import anchor as store_anchor
from ledger.store.verify import verify


def _entries_table(recorded: list[RecordedEntry], as_json: bool) -> None:
    rows = [
        {
            "entry": r.id,
            "new": r.created,
            "kind": r.draft.kind.value,
            "period": r.draft.period,
            "effective_date": r.draft.effective_date.isoformat(),
            "postings": [
                {"account": p.account, "amount": format_yuan(p.amount_fen)}
                for p in r.draft.postings
            ],
        }
        for r in recorded
    ]
    if as_json:
        print_json({"entries": rows})
        return
    print_table(
        None,
        ("entry", "new", "kind", "period", "date", "account", "amount"),
        [
            (
                r["entry"],
                "yes" if r["new"] else "replay",
                r["kind"],
                r["period"] or "",
                r["effective_date"],
                p["account"],
                p["amount"],
            )
            for r in rows
            for p in r["postings"]
        ],
    )


@cli.group("member")
def member_group() -> None:
    """Register members."""


@member_group.command("add")
@click.option(
    "--id", "id_text", required=True, help="Citizen ID number (the social security number)."
)
@click.option("--region", required=True, help="Region where the member insures.")
@click.option("--hukou", help="Household registration region (default: the ID's region code).")
@json_option
def member_add(id_text: str, region: str, hukou: str | None, as_json: bool) -> None:
    """Register a member (again with the same details: no change)."""
    ledger = open_ledger()
    with ledger.unit_of_work() as conn:
        member = ledger.add_member(conn, id_text, region, hukou)
    data = {
        "id": member.id,
        "region": member.region,
        "hukou": member.hukou,
        "sex": member.sex,
        "birth_date": member.birth_date.isoformat(),
    }
    if as_json:
        print_json(data)
    else:
        print_table("member", ("field", "value"), list(data.items()))


@cli.command("enroll")
@click.option("--member", required=True)
@click.option("--scheme", required=True, help="|".join(Scheme))
@click.option("--region", required=True)
@click.option("--base-percent")
@click.option("--base", "base_amount")
@click.option("--grade")
@click.option("--from", "from_month", required=True, help="First month, YYYY-MM.")
@click.option("--to", "to_month", help="Last month, YYYY-MM (default: open-ended).")
@click.option("--method", default="monthly", show_default=True, help="monthly|bank|agency")
@click.option("--agency", help="HR company name (method agency).")
@click.option("--signed-on", help="Date the bank withholding agreement was signed.")
@json_option
def enroll(
    member: str,
    scheme: str,
    region: str,
    base_percent: str | None,
    base_amount: str | None,
    grade: str | None,
    from_month: str,
    to_month: str | None,
    method: str,
    agency: str | None,
    signed_on: str | None,
    as_json: bool,
) -> None:
    """Enrol a member in a scheme from a month, with a base choice and a payment method."""
    ledger = open_ledger()
    with ledger.unit_of_work() as conn:
        enrolment = ledger.enroll(
            conn,
            member,
            Scheme.parse(scheme),
            region,
            BaseChoice.of(percent=base_percent, amount=base_amount, grade=grade),
            Month.parse(from_month, "from"),
            method,
            agency,
            parse_date(signed_on, "signed_on") if signed_on else None,
            Month.parse(to_month, "to") if to_month else None,
        )
    data = {
        "enrolment": enrolment.id,
        "member": enrolment.member_id,
        "scheme": enrolment.scheme.value,
        "region": enrolment.region,
        "from": str(enrolment.from_month),
        "method": enrolment.method,
        "agency": enrolment.agency,
    }
    if as_json:
        print_json(data)
    else:
        print_table("enrolment", ("field", "value"), list(data.items()))


@cli.command("contribute")
@click.option("--member", required=True)
@click.option("--scheme", required=True, help="|".join(Scheme))
@click.option("--from", "from_month", required=True, help="First month, YYYY-MM.")
@click.option("--to", "to_month", help="Last month, YYYY-MM (default: --from).")
@click.option("--paid-on", required=True, help="Date the money was paid, YYYY-MM-DD.")
@json_option
def contribute(
    member: str, scheme: str, from_month: str, to_month: str | None, paid_on: str, as_json: bool
) -> None:
    """Post each month's contribution as one balanced entry."""
    ledger = open_ledger()
    with ledger.unit_of_work() as conn:
        recorded = payments.contribute(
            ledger,
            conn,
            member,
            Scheme.parse(scheme),
            Month.parse(from_month, "from"),
            Month.parse(to_month, "to") if to_month else None,
            parse_date(paid_on, "paid_on"),
        )
    _entries_table(recorded, as_json)


@cli.group("import")
def import_group() -> None:
    """Bulk imports."""


@import_group.command("members")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    type=click.Choice(["utf-8", "gbk", "gb18030"], case_sensitive=False),
    help="The file's text encoding.",
)
@json_option
def import_members_command(file: str, encoding: str, as_json: bool) -> None:
    """Register and enrol members from CSV: id,region,scheme,base_percent,from,method[,agency].

    Running it again on the same file writes nothing and says so.
    """

    ledger = open_ledger()
    with ledger.unit_of_work() as conn:
        result = import_members(ledger, conn, file, encoding=encoding.lower())
    data = {
        "members": result.members,
        "enrolments": result.enrolments,
        "already_registered": result.already_registered,
        "already_enrolled": result.already_enrolled,
    }
    if as_json:
        print_json(data)
        return
    print_table(f"imported {file}", ("item", "count"), list(data.items()))
    if result.enrolments == 0:
        click.echo(
            f"nothing written: {result.members} members registered, "
            f"{result.already_enrolled} already enrolled as in the file"
        )


@cli.command("correct")
@click.option("--entry", "entry_id", required=True, type=int)
@click.option("--reason", required=True)
@json_option
def correct(entry_id: int, reason: str, as_json: bool) -> None:
    """Reverse an entry with a new entry that points at it (nothing is ever edited)."""
    ledger = open_ledger()
    with ledger.unit_of_work() as conn:
        recorded = ledger.correct(conn, entry_id, reason)
    _entries_table([recorded], as_json)


@cli.command("adjust")
@json_option
def adjust(as_json: bool) -> None:
    """Post adjustments for months paid before a late-announced base or rate."""

    ledger = open_ledger()
    with ledger.unit_of_work() as conn:
        recorded = post_adjustments(ledger, conn)
    _entries_table([r for r in recorded if r.created], as_json)


@cli.command("verify")
@click.option("--anchor", is_flag=True, help="Then store the chain head as an anchor.")
@json_option
def verify_command(anchor: bool, as_json: bool) -> None:
    """Recompute the hash chain, every entry's balance and every stored checkpoint."""
    from rich.progress import Progress

    ledger = open_ledger()
    with ledger.engine.connect() as conn:
        with Progress(transient=True, disable=as_json) as bar:
            task = bar.add_task("verifying", total=None)
            report = verify(conn, lambda done, total: bar.update(task, completed=done, total=total))
    head = None
    if report.ok and anchor:
        with ledger.unit_of_work() as conn:
            head = store_anchor(conn, ledger.clock)
    data = views.verify_view(report, head)
    if as_json:
        print_json(data)
    else:
        print_table(
            "verify",
            ("check", "result"),
            [
                ("entries", report.entries),
                ("postings", report.postings),
                ("anchors", report.anchors),
                ("checkpoints", report.checkpoints),
                ("result", "OK" if report.ok else f"FAILED at entry {report.first_bad_entry}"),
            ],
        )
        for problem in report.problems[:20]:
            click.echo(problem, err=True)
    if not report.ok:
        raise VerifyFailed(report.problems[0])
