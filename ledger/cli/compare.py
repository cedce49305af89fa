"""``flexledger compare``: the most cost-effective way for one person to pay (issue 18).

A pure projection (``ledger.compare``): nothing is written. Only ``--member`` reads the
ledger, for the member's history; otherwise no database is opened at all.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from fractions import Fraction
from pathlib import Path

import click

from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.cli.context import open_ledger
from ledger.compare.history import member_person
from ledger.compare.model import Outcome, Person
from ledger.compare.projected import scheme_region
from ledger.compare.scenario import CompareScenario
from ledger.compare.ways import BY, Comparison, compare, parse_bases, parse_grades, parse_starts
from ledger.domain.clock import SystemClock
from ledger.domain.errors import BadInput
from ledger.domain.identity import is_known_region, parse_citizen_id
from ledger.domain.money import format_yuan, parse_yuan
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet, default_policy
from ledger.domain.rules.pension import Category, default_category

DEFAULT_BASES = "60,100,150,200,300"


def _age(months: int | None) -> str:
    return "—" if months is None else f"{months // 12}y{months % 12}m"


def _percent(value: Fraction | None, places: int = 1) -> str:
    return "—" if value is None else f"{float(value) * 100:.{places}f}%"


def _count(value: str | None, field: str, high: int) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit() or int(value) > high:
        raise BadInput(field, f"{value!r} is not a whole number from 0 to {high}")
    return int(value)


@cli.command("compare")
@click.option("--id", "id_number", help="Citizen ID number: birth date, sex and hukou.")
@click.option("--member", help="A member of the ledger: start from their paid history.")
@click.option("--lives-in", help="Region code where the person lives (default: the hukou's).")
@click.option("--hukou", help="Household registration code (default: the ID's region).")
@click.option(
    "--category",
    type=click.Choice([c.value for c in Category]),
    help="Retirement category (default: male, or female-55 for women).",
)
@click.option("--paid-months", help="Employee pension months paid so far (without --member).")
@click.option("--balance", help="Personal account so far, yuan (default: estimated).")
@click.option(
    "--bases",
    default=DEFAULT_BASES,
    show_default=True,
    help="Base percents: a list (60,100,300) or a step (60:300:20).",
)
@click.option("--grades", help="Residents' yearly grades in yuan (default: all; 'none').")
@click.option("--start", help="Start months, YYYY-MM[,YYYY-MM] (default: this month).")
@click.option("--as-of", help="The present month, YYYY-MM (default: this month).")
@click.option(
    "--by",
    type=click.Choice(list(BY)),
    default="irr",
    show_default=True,
    help="The measure that picks the best way.",
)
@click.option(
    "--scenario",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML overriding the assumptions (ledger/compare/data/compare.toml).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write cost against pension for each way to this PNG.",
)
@json_option
def compare_command(
    id_number: str | None,
    member: str | None,
    lives_in: str | None,
    hukou: str | None,
    category: str | None,
    paid_months: str | None,
    balance: str | None,
    bases: str,
    grades: str | None,
    start: str | None,
    as_of: str | None,
    by: str,
    scenario: Path | None,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Compare the ways one person can pay: cost, pension, payback, IRR, expected value."""

    policy = default_policy()
    today = SystemClock().now().date()
    now = Month.parse(as_of, "as_of") if as_of else Month.of(today)
    assumptions = CompareScenario.load(scenario)
    if plot is not None and plot.suffix.lower() != ".png":
        raise BadInput("plot", f"{plot}: the picture is a PNG, name it *.png")
    if (id_number is None) == (member is None):
        raise BadInput("id", "give --id NUMBER or --member ID (one of them)")
    for code, field in ((lives_in, "lives_in"), (hukou, "hukou")):
        if code is not None and not (len(code) == 6 and code.isdigit() and is_known_region(code)):
            raise BadInput(field, f"{code!r} is not a GB/T 2260 region code")
    if lives_in is not None:
        mapped = scheme_region(lives_in, policy)
        if mapped is None:
            known = ", ".join(sorted(policy.regions))
            raise BadInput(
                "lives_in",
                f"{lives_in!r} has no flexible-employee scheme in the policy files ({known})",
            )
        lives_in = mapped  # a district insures at its city's or province's scheme
    months = _count(paid_months, "paid_months", 1200)
    balance_fen = parse_yuan(balance, "balance") if balance is not None else None
    if balance_fen is not None and balance_fen < 0:
        raise BadInput("balance", "a personal account balance cannot be negative")
    citizen = parse_citizen_id(
        id_number or member or "", today=today, field="id" if id_number else "member"
    )
    sex = str(citizen.sex)
    chosen = Category(category) if category else default_category(sex)
    if chosen.sex != sex:
        raise BadInput("category", f"{chosen.value!r} is not a category for a {sex} person")
    if member is not None:
        if months is not None or balance_fen is not None:
            raise BadInput(
                "paid_months",
                "--member takes the months and balance from the "
                "ledger: leave out --paid-months and --balance",
            )
        person = _member_person(citizen.number, policy, now, lives_in, chosen, hukou)
    else:
        home = hukou or citizen.region_code
        where = lives_in or scheme_region(home, policy)
        if where is None:
            raise BadInput(
                "lives_in",
                f"the hukou {home} has no flexible-employee scheme in "
                "the policy files: give --lives-in CODE",
            )
        person = Person(
            citizen.birth_date,
            sex,
            home,
            where,
            chosen,
            paid_months=months or 0,
            balance_fen=balance_fen,
        )
    result = compare(
        person,
        policy,
        assumptions,
        now,
        bases=parse_bases(bases, assumptions),
        grades=parse_grades(grades, policy, now),
        starts=parse_starts(start, now),
        by=by,
    )
    if plot is not None:
        from ledger.compare.plot import draw

        try:
            draw(result, plot)
        except OSError as exc:
            raise BadInput("plot", f"{plot}: {exc.strerror or exc}") from None
    if as_json:
        print_json(_json(result, citizen.number, assumptions))
        return
    _print(result, citizen.number, assumptions, plot)


def _member_person(
    number: str,
    policy: PolicySet,
    now: Month,
    lives_in: str | None,
    category: Category,
    hukou: str | None,
) -> Person:
    """The member's history as of the end of ``now``, read in autocommit (no write lock)."""

    ledger = open_ledger()
    try:
        with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            last_day = (now + 1).first_day.toordinal() - 1
            person = member_person(
                ledger,
                conn,
                number,
                policy,
                date.fromordinal(last_day),
                lives_in=lives_in,
                category=category,
            )
    finally:
        ledger.engine.dispose()
    return replace(person, hukou=hukou) if hukou else person


def _row(index: int, o: Outcome, best: Outcome | None) -> list[str]:
    flag = "best" if o is best else ("short" if not o.eligible else "")
    return [
        str(index),
        o.way.what,
        o.way.where,
        str(o.way.start),
        str(o.months_paid),
        format_yuan(o.paid_fen),
        format_yuan(o.paid_discounted_fen),
        format_yuan(o.pension_fen),
        _percent(o.replacement_rate),
        _age(o.payback_age_months),
        "—" if o.irr is None else f"{o.irr * 100:.2f}%",
        format_yuan(o.expected_net_fen),
        flag,
    ]


def _print(
    result: Comparison, number: str, assumptions: CompareScenario, plot: Path | None
) -> None:
    ctx = result.context
    person, reached = ctx.person, ctx.retirement
    click.echo(
        f"{number}: born {person.birth_date}, {person.sex} ({person.category.value}), hukou "
        f"{person.hukou}, lives in {person.lives_in}; {person.paid_months} months paid so far; "
        f"retires {reached.month} at {reached.age_label}; as of {ctx.as_of}"
    )
    rows = [_row(i, o, result.best) for i, o in enumerate(result.outcomes, 1)]
    print_table(
        "Ways to pay (yuan; paid from the start on, fees included; pension at the award)",
        (
            "#",
            "way",
            "where",
            "start",
            "months",
            "paid",
            "paid (disc.)",
            "pension/mo",
            "repl.",
            "payback",
            "IRR",
            "expected net",
            "",
        ),
        rows,
    )
    best = result.best
    if best is None:
        click.echo(f"best by {result.by}: none (no way reaches the minimum months)")
    else:
        click.echo(
            f"best by {result.by}: #{result.outcomes.index(best) + 1} {best.way.label}: pays "
            f"{format_yuan(best.paid_fen)}, pension {format_yuan(best.pension_fen)}/month "
            f"(basic {format_yuan(best.basic_fen)} + personal {format_yuan(best.personal_fen)}) "
            f"from {best.pension_month}, IRR to age {_age(best.irr_to_age_months)}"
        )
    notes = sorted({n for o in result.outcomes for n in o.notes})
    notes.append(
        "figures for years past the policy files are projected by the assumptions "
        "below (derived); the policy's own status is in ledger/domain/policy/data"
    )
    for note in notes:
        click.echo(f"note: {note}")
    sourced = [
        (a["name"], a["value"], a["status"], a["source"]) for a in result.context.scenario.rows()
    ]
    print_table(
        "Assumptions (ledger/compare/data/compare.toml unless --scenario)",
        ("assumption", "value", "status", "source"),
        sourced,
    )
    if plot is not None:
        click.echo(f"plot: {plot}")


def _outcome_json(o: Outcome, index: int) -> dict[str, object]:
    def yuan(v: int | None) -> str | None:
        return None if v is None else format_yuan(v)

    way = o.way
    return {
        "n": index,
        "way": way.label,
        "scheme": way.scheme,
        "region": way.region,
        "place": way.place,
        "agency": way.agency,
        "start": str(way.start),
        "base_percent": None if way.base_percent is None else str(way.base_percent),
        "grade": yuan(way.grade_fen),
        "months_paid": o.months_paid,
        "months_counted": o.months_counted,
        "minimum_months": o.minimum_months,
        "eligible": o.eligible,
        "paid": yuan(o.paid_fen),
        "fees": yuan(o.fees_fen),
        "paid_discounted": yuan(o.paid_discounted_fen),
        "pension_month": str(o.pension_month),
        "pension_age": _age(o.pension_age_months),
        "calculation_base": yuan(o.calculation_base_fen),
        "average_index": None if o.average_index is None else f"{float(o.average_index):.6f}",
        "balance_at_award": yuan(o.balance_at_award_fen),
        "basic": yuan(o.basic_fen),
        "personal": yuan(o.personal_fen),
        "pension": yuan(o.pension_fen),
        "replacement_rate": None
        if o.replacement_rate is None
        else f"{float(o.replacement_rate):.4f}",
        "payback_month": None if o.payback_month is None else str(o.payback_month),
        "payback_age": None if o.payback_age_months is None else _age(o.payback_age_months),
        "irr": None if o.irr is None else str(o.irr),
        "irr_to_age": _age(o.irr_to_age_months),
        "expected_pensions": yuan(o.expected_pensions_fen),
        "expected_net": yuan(o.expected_net_fen),
        "notes": list(o.notes),
    }


def _json(result: Comparison, number: str, assumptions: CompareScenario) -> dict[str, object]:
    ctx = result.context
    person, reached = ctx.person, ctx.retirement
    best = result.best
    return {
        "person": {
            "id": number,
            "birth_date": person.birth_date.isoformat(),
            "sex": person.sex,
            "category": person.category.value,
            "hukou": person.hukou,
            "lives_in": person.lives_in,
            "paid_months": person.paid_months,
            "retirement_month": str(reached.month),
            "retirement_age": reached.age_label,
        },
        "as_of": str(ctx.as_of),
        "by": result.by,
        "best": None if best is None else result.outcomes.index(best) + 1,
        "ways": [_outcome_json(o, i) for i, o in enumerate(result.outcomes, 1)],
        "assumptions": result.context.scenario.rows(),
    }
