"""A simulation past retirement, on SQLite and PostgreSQL: awards, pensions and deaths.

Forty men born in 1971 pay from 2016; they retire in 2032–2033 (61y7m to 61y11m, NPC
decision 2024-09-13), when 198 and 204 months are the minimum (Social Insurance Law Art.
16 as raised from 2030): some are awarded a pension and draw it month by month, the rest
are short and take the scenario's choice (their personal account refunded); some die by
the scenario's mortality. Everything goes through the production workers' messages.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, select

from ledger.domain.clock import FixedClock
from ledger.operations.services import Ledger
from ledger.simulate import Scenario, Simulation
from ledger.simulate.scenario import Population
from ledger.store.tables import (
    accounts,
    benefit_events,
    enrolments,
    entries,
    members,
    pension_awards,
    postings,
)
from ledger.store.totals import trial_balance
from ledger.store.verify import verify
from ledger.store.worker_tables import processed_messages

SCENARIO = Scenario(population=Population(birth_years=(1971, 1971), female_share="0"))


def test_simulation_past_retirement_awards_pays_and_settles_deaths_through_the_workers(engine):
    ledger = Ledger(engine, FixedClock(datetime(2016, 1, 1, tzinfo=UTC)))
    result = Simulation(ledger, SCENARIO, seed=3, members=40, years=20, start=2016).run()
    assert result.awards > 0 and result.pensions_paid > 0 and result.deaths
    with engine.connect() as conn:
        assert verify(conn).ok
        assert sum(a for _, a in trial_balance(conn, result.last.first_day)) == 0
        outcomes = conn.execute(
            select(processed_messages.c.actor_name, processed_messages.c.outcome)
        ).all()
        n_entries = conn.execute(select(func.count()).select_from(entries)).scalar_one()
        awards = conn.execute(select(pension_awards)).all()
        short = conn.execute(
            select(benefit_events).where(benefit_events.c.kind == "short-of-minimum")
        ).all()
        dead = set(
            conn.execute(
                select(benefit_events.c.member_id).where(benefit_events.c.kind == "death")
            ).scalars()
        )
        legs = conn.execute(
            select(
                entries.c.id,
                entries.c.member_id,
                entries.c.period,
                accounts.c.name,
                postings.c.amount_fen,
            )
            .join(postings, postings.c.entry_id == entries.c.id)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(entries.c.kind == "pension-payment")
        ).all()
    assert sum(json.loads(o)["posted"] for _, o in outcomes) == n_entries
    used = {name for name, _ in outcomes}
    assert {"retirements_batch", "pension_payments_batch", "deaths_batch"} <= used
    assert all(a.months_counted >= a.minimum_months for a in awards)
    assert all(s.choice == "refund" for s in short)
    assert {a.member_id for a in awards}.isdisjoint(s.member_id for s in short)
    # Each payment: the pooling fund and the personal account pay out what the award says
    # (no increase is in the files after 2025), nothing after the month of death.
    by_entry: dict[int, dict[str, int]] = defaultdict(dict)
    period: dict[int, tuple[str, str]] = {}
    for entry_id, member, month, name, amount in legs:
        by_entry[entry_id][name.split(":")[0]] = amount
        period[entry_id] = (member, month)
    totals = {a.member_id: a.total_fen for a in awards}
    for entry_id, parts in by_entry.items():
        member, _ = period[entry_id]
        assert -parts["collection"] == totals[member]
        assert parts.get("pooling", 0) + parts.get("personal", 0) == totals[member]
    died_on = {d.member_id: d.on_date for d in result_deaths(engine)}
    for member, month in period.values():
        if member in dead:
            assert month <= died_on[member].strftime("%Y-%m")


def result_deaths(engine):
    with engine.connect() as conn:
        return conn.execute(select(benefit_events).where(benefit_events.c.kind == "death")).all()


def test_simulated_women_workers_retiring_from_50_reach_their_retirement_by_their_category(
    engine,
):
    """Women born in 1976, all in the female-50 category (NPC decision 2024-09-13, annex 2:
    born 1976 → 50y7m to 50y12m), paying from 2016: they reach retirement in 2026–2027 with
    about ten years paid, short of 180 months (Social Insurance Law Art. 16), so each takes
    the scenario's choice (refund) at her own category's date — none is refused as not yet
    retired (the female-55 default would put her date five years later)."""
    from ledger.domain.rules.pension import Category, retirement

    scenario = Scenario(
        population=Population(birth_years=(1976, 1976), female_share="1", female_50_share="1")
    )
    ledger = Ledger(engine, FixedClock(datetime(2016, 1, 1, tzinfo=UTC)))
    result = Simulation(ledger, scenario, seed=5, members=6, years=13, start=2016).run()
    with engine.connect() as conn:
        short = conn.execute(
            select(benefit_events).where(benefit_events.c.kind == "short-of-minimum")
        ).all()
        refused = [
            json.loads(o)
            for a, o in conn.execute(
                select(processed_messages.c.actor_name, processed_messages.c.outcome)
            )
            if a == "retirements_batch"
        ]
        births = {m.id: m.birth_date for m in result_members(ledger, conn)}
        employees = set(
            conn.execute(
                select(enrolments.c.member_id).where(enrolments.c.scheme == "pension")
            ).scalars()
        )
    # residents' members retire without an award or a choice (the residents' scheme)
    retired = {m for m, _ in result.retirees} - {m for m, _ in result.deaths}
    retired &= employees
    assert retired and {s.member_id for s in short} >= retired
    assert all(not r.get("problems") for r in refused)
    for s in short:
        assert s.on_date == retirement(births[s.member_id], Category.FEMALE_50, ledger.policy).date
        assert s.on_date.year in (2026, 2027)


def result_members(ledger, conn):
    return conn.execute(select(members.c.id, members.c.birth_date)).all()
