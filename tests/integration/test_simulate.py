"""The simulation: deterministic, auditable, and the same figures the rules give.

Given a small population, when it is simulated, then the ledger verifies, its trial
balance is zero, the same seed gives the same journal byte for byte (on any backend),
another seed gives another, and members' balances recomputed from the simulation's own
choices by the domain rules alone match the ledger.
"""

import io
import json
from collections import defaultdict
from datetime import UTC, date, datetime

import pytest

from ledger.domain.clock import FixedClock
from ledger.domain.period import Month
from ledger.domain.rules.contribution import assess
from ledger.domain.rules.interest import Deposit, credit_year
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.simulate import Scenario, Simulation
from ledger.simulate.scenario import Moves
from ledger.store.balances import balance
from ledger.store.db import make_engine, upgrade
from ledger.store.export import export_ledger
from ledger.store.totals import trial_balance
from ledger.store.verify import verify
from tests.rows import row_counts

START = 2017


def simulate(
    engine,
    seed: int,
    members: int = 30,
    years: int = 2,
    trace: bool = False,
    scenario: Scenario | None = None,
    start: int = START,
):
    ledger = Ledger(engine, FixedClock(datetime(start, 1, 1, tzinfo=UTC)))
    result = Simulation(
        ledger,
        scenario or Scenario(),
        seed=seed,
        members=members,
        years=years,
        start=start,
        trace=trace,
    ).run()
    return ledger, result


def exported(engine) -> str:
    out = io.StringIO()
    with engine.connect() as conn:
        export_ledger(conn, out)
    return out.getvalue()


def sqlite_engine(tmp_path, name: str):
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    upgrade(engine)
    return engine


def test_a_simulated_ledger_verifies_and_its_trial_balance_is_zero(engine):
    _, result = simulate(engine, seed=7)
    assert result.contributions > 30 * 12
    with engine.connect() as conn:
        report = verify(conn)
        lines = trial_balance(conn, date(START + 1, 12, 31))
    assert report.ok, report.problems[:3]
    assert sum(amount for _, amount in lines) == 0


def test_the_same_seed_gives_the_same_journal_byte_for_byte_on_any_backend(engine, tmp_path):
    simulate(engine, seed=11)
    other = sqlite_engine(tmp_path, "again.db")
    simulate(other, seed=11)
    assert exported(engine) == exported(other)


def test_another_seed_gives_another_journal(tmp_path):
    first, second = sqlite_engine(tmp_path, "a.db"), sqlite_engine(tmp_path, "b.db")
    simulate(first, seed=1)
    simulate(second, seed=2)
    assert exported(first) != exported(second)


def test_balances_recomputed_by_the_rules_from_the_simulations_choices_match_the_ledger(engine):
    """Personal pension accounts at the end of 2018: every month the simulation paid,
    assessed by the rules as finally known (late announcements are adjusted), plus the
    2017 interest credited in January 2018 (DOMAIN.md §4, months-held rule)."""
    no_moves = Scenario(moves=Moves(per_year="0"))
    ledger, result = simulate(engine, seed=5, members=40, trace=True, scenario=no_moves)
    assert result.trace
    by_member: dict[str, list] = defaultdict(list)
    for paid in result.trace:
        if paid.scheme is Scheme.PENSION:
            by_member[paid.member_id].append(paid)
    checked = 0
    for member_id, paid_months in sorted(by_member.items())[:8]:
        deposits_2017, total = [], 0
        for paid in paid_months:
            personal = assess(
                ledger.policy, paid.region, paid.scheme, paid.period, paid.choice
            ).personal_fen
            total += personal
            if paid.paid_on.year == START:
                deposits_2017.append(Deposit(Month.of(paid.paid_on), personal))
        interest = credit_year(START, 0, deposits_2017, ledger.policy).interest_fen
        with engine.connect() as conn:
            in_ledger = -balance(conn, f"personal:pension:{member_id}", date(START + 1, 12, 31))
        assert in_ledger == total + interest, member_id
        checked += 1
    assert checked == 8


@pytest.mark.parametrize("args", [["--members", "0"], ["--years", "0"], ["--regions", "999999"]])
def test_bad_simulation_arguments_exit_2_and_write_nothing(args, tmp_path, monkeypatch, capsys):
    from ledger.cli import main
    from ledger.cli.context import settings

    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    settings.cache_clear()
    assert main(["simulate", *args, "--json"]) == 2
    assert "error:" in capsys.readouterr().err
    settings.cache_clear()


def test_simulate_prints_a_summary_for_programs(tmp_path, monkeypatch, capsys):
    from ledger.cli import main
    from ledger.cli.context import settings

    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    settings.cache_clear()
    assert main(["simulate", "--members", "12", "--years", "1", "--seed", "3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    settings.cache_clear()
    assert summary["members"] == 12
    assert summary["trial_balance_total"] == "0.00"
    assert summary["entries"] >= summary["contributions"] > 0


def test_simulating_into_a_ledger_that_holds_members_exits_2_and_changes_nothing(
    tmp_path, monkeypatch, capsys
):
    from ledger.cli import main
    from ledger.cli.context import settings

    path = tmp_path / "cli.db"
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", f"sqlite:///{path}")
    settings.cache_clear()
    try:
        assert main(["simulate", "--members", "5", "--years", "1", "--seed", "3", "--json"]) == 0
        capsys.readouterr()
        engine = make_engine(f"sqlite:///{path}")
        before = _table_counts(engine)
        assert main(["simulate", "--members", "5", "--years", "1", "--seed", "4", "--json"]) == 2
        err = capsys.readouterr().err
        assert "database: a simulation writes into an empty ledger" in err
        assert "already holds 5 members" in err
        assert _table_counts(engine) == before
        engine.dispose()
    finally:
        settings.cache_clear()


def _table_counts(engine) -> tuple[int, ...]:
    from ledger.store.tables import enrolments, entries, members, postings

    return row_counts(engine, members, enrolments, entries, postings)


def test_a_simulation_leaves_postgresql_with_planner_statistics_and_sqlite_untouched(engine):
    """PostgreSQL picks index or sequential scans from table statistics; a ledger loaded in
    one run has none until autovacuum (which may be off) catches up, so the simulation
    ANALYZEs after each year. SQLite plans by rule: no sqlite_stat1 is created."""
    from sqlalchemy import text

    simulate(engine, seed=5)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            analysed = conn.execute(
                text(
                    "SELECT count(DISTINCT tablename) FROM pg_stats WHERE schemaname = "
                    "current_schema() AND tablename IN ('entries', 'postings', 'accounts')"
                )
            ).scalar_one()
            assert analysed == 3
        else:
            stat_tables = conn.execute(
                text("SELECT count(*) FROM sqlite_master WHERE name LIKE 'sqlite_stat%'")
            ).scalar_one()
            assert stat_tables == 0


def test_every_entry_of_a_simulation_is_posted_by_a_production_worker_message(engine):
    """The simulation decides the story; the workers post it. Every entry is accounted for
    by the outcome of a processed message of a production actor, and every kind of job a
    member's history needs ran: own payments, HR companies, bank runs, closing the year,
    interest, late announcements (2025 and 2026 have some) and transfers (requested, then
    accepted, a day's transfers in one message: ``transfers_batch``, not ``transfer_step``)."""
    from sqlalchemy import func, select

    from ledger.store.tables import entries
    from ledger.store.worker_tables import job_messages, outbox, processed_messages
    from workers.actors import ACTORS

    _, result = simulate(engine, seed=7, members=60, years=2, start=2025)
    with engine.connect() as conn:
        outcomes = conn.execute(
            select(processed_messages.c.actor_name, processed_messages.c.outcome)
        ).all()
        n_entries = conn.execute(select(func.count()).select_from(entries)).scalar_one()
        statuses = set(conn.execute(select(job_messages.c.status).distinct()).scalars())
        n_outbox = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
    posted = sum(json.loads(outcome)["posted"] for _, outcome in outcomes)
    assert posted == n_entries > 0
    unused = {"transfer_step", "post_contributions_batch"}  # the batch forms are used
    unused.add("verify_ledger")  # started over the API, not part of a member's history
    # Two years are too few for a pension: test_simulation_past_retirement_… runs those.
    benefits = {"retirements_batch", "pension_payments_batch", "deaths_batch"}
    assert {name for name, _ in outcomes} - benefits == set(ACTORS) - unused - benefits
    assert statuses == {"done"}
    assert n_outbox == len(outcomes) > result.messages > 0  # + the accepts transfers chained
    assert result.workers == "embedded"


def test_no_entry_is_posted_for_a_month_after_the_members_retirement(engine):
    """A retiring member's enrolments end the month before the legal age (DOMAIN.md §6), so
    no run charges them or records a gap for them afterwards."""
    from sqlalchemy import select

    from ledger.store.tables import entries

    _, result = simulate(engine, seed=3, members=150, years=2, start=2028)
    retired = {member: str(month) for member, month in result.retirees}
    assert retired
    with engine.connect() as conn:
        rows = conn.execute(
            select(entries.c.member_id, entries.c.period, entries.c.kind).where(
                entries.c.member_id.in_(list(retired)),
                entries.c.kind.in_(["contribution", "arrears", "fee"]),
            )
        ).all()
    assert rows
    assert [r for r in rows if r.period >= retired[r.member_id]] == []


def test_the_summary_counts_gaps_and_their_members_as_the_arrears_accounts_hold_them(engine):
    """``gaps`` and ``members with gaps`` in the summary are the months recorded as arrears
    and the members they belong to: read here from the postings on ``arrears:<scheme>:<member>``
    accounts, not from the entries' kinds the summary reads."""
    from sqlalchemy import select

    from ledger.store.tables import accounts, postings

    _, result = simulate(engine, seed=7, members=60, years=2)
    with engine.connect() as conn:
        names = (
            conn.execute(
                select(accounts.c.name)
                .join(postings, postings.c.account_id == accounts.c.id)
                .where(accounts.c.name.like("arrears:%"), postings.c.amount_fen > 0)
            )
            .scalars()
            .all()
        )
    assert result.gaps == len(names) > 0
    assert result.gap_members == {name.split(":", 2)[2] for name in names}


def test_simulated_members_pay_as_the_regional_rules_allow(engine):
    """The scenario keeps the payment rules the ledger enforces, so nothing is refused:

    - Shanghai takes flexible employees' months only in the month itself (沪人社规〔2023〕5号
      item 6, DOMAIN.md §2): every Shanghai employee-scheme contribution is paid in its own
      month, bank members' included (their bank pulls the month every month there);
    - after a transfer out of a region nothing more is paid there (国办发〔2009〕66号,
      DOMAIN.md §5): movers pay at the destination from the month of acceptance.
    """
    from sqlalchemy import select

    from ledger.simulate.scenario import Population
    from ledger.store.queries import departures_of
    from ledger.store.tables import entries
    from ledger.store.worker_tables import processed_messages

    scenario = Scenario(
        population=Population(regions={"110000": 1, "310000": 2}), moves=Moves(per_year="0.3")
    )
    _, result = simulate(engine, seed=11, members=60, years=3, scenario=scenario, start=2024)
    assert result.transfers > 0
    with engine.connect() as conn:
        paid = conn.execute(
            select(
                entries.c.member_id,
                entries.c.scheme,
                entries.c.region,
                entries.c.period,
                entries.c.effective_date,
            ).where(entries.c.kind == "contribution")
        ).all()
        shanghai = [p for p in paid if p.region == "310000" and p.scheme in ("pension", "medical")]
        assert shanghai
        assert [p for p in shanghai if str(Month.of(p.effective_date)) != p.period] == []
        assert any(p.effective_date.day == 25 for p in shanghai)  # the bank's monthly pull
        left = {
            s: departures_of(conn, sorted({p.member_id for p in paid}), s)
            for s in ("pension", "medical")
        }
        after = [
            p
            for p in paid
            if p.scheme in left
            and (gone := left[p.scheme].get(p.member_id, {}).get(p.region)) is not None
            and p.effective_date > gone.on
        ]
        assert any(left[s] for s in left)
        assert after == []
        problems = [
            o
            for (o,) in conn.execute(select(processed_messages.c.outcome))
            if o and '"refused"' in o
        ]
        assert problems == []
        assert verify(conn).ok


def test_a_scenario_file_that_is_not_utf8_exits_2_naming_the_file(tmp_path, monkeypatch, capsys):
    """Found by the hostile-input property test: a scenario of the one byte 0x80 was a
    UnicodeDecodeError traceback; it is one line naming --scenario's file and the byte."""
    from ledger.cli import main
    from ledger.cli.context import settings

    bad = tmp_path / "scenario.toml"
    bad.write_bytes(b"\x80")
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'l.db'}")
    monkeypatch.delenv("FLEXLEDGER_REDIS_URL", raising=False)
    settings.cache_clear()
    try:
        code = main(["simulate", "--members", "3", "--years", "1", "--scenario", str(bad)])
    finally:
        settings.cache_clear()
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: scenario: ") and "byte 0 is not UTF-8" in err
    assert "Traceback" not in err
