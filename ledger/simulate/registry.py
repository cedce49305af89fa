"""Registering a simulated population in bulk: members and enrolments, rows not calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection, func, insert, select

from ledger.domain.clock import Clock
from ledger.domain.errors import BadInput
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.simulate.population import Member
from ledger.simulate.scenario import Scenario
from ledger.store import registry as store
from ledger.store.db import display_url
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import enrolments, members, simulations


class Simulation(Protocol):
    """What registering needs of a simulation (``ledger.simulate.engine.Simulation``)."""

    clock: Clock
    seed: int
    first: Month
    last: Month
    scenario: Scenario
    population: Sequence[Member]
    enrolled: dict[tuple[str, Scheme], Enrolment]

    def schemes_of(self, member: Member) -> list[Scheme]: ...


def _choice_row(member: Member, scheme: Scheme) -> tuple[str | None, str | None]:
    if scheme is Scheme.RESIDENT_PENSION:
        return None, member.grade
    if scheme is Scheme.RESIDENT_MEDICAL:
        return None, None
    return member.percent, None


def _rows(sim: Simulation, pairs: list[tuple[Member, Scheme]], month: Month) -> list[tuple]:
    now = sim.clock.now()
    return [
        (
            member.id,
            scheme.value,
            member.region,
            *_choice_row(member, scheme)[:1],
            None,
            _choice_row(member, scheme)[1],
            member.method,
            member.agency,
            str(month),
            None,
            None,
            now,
        )
        for member, scheme in pairs
    ]


def load_enrolments(sim: Simulation, conn: Connection, ids: list[str]) -> None:
    """Read back the enrolments in force, so drafts use exactly what the ledger holds."""
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(enrolments)
            .where(enrolments.c.member_id.in_(ids[start : start + 500]))
            .order_by(enrolments.c.from_month, enrolments.c.id)
        )
        for row in rows:
            enrolment: Enrolment = enrolment_from_row(row)
            sim.enrolled[(enrolment.member_id, enrolment.scheme)] = enrolment


def register(sim: Simulation, conn: Connection) -> None:
    """Record the simulation (``simulations``: what made this ledger, and the mark that
    lets the workers record its messages at the story's time), then register and enrol
    every simulated member from the first month.

    A simulation writes into an empty ledger: its members' ids come from the seed, and
    "the same seed gives the same ledger" holds only for a ledger that was empty.
    """
    held = conn.execute(select(func.count()).select_from(members)).scalar_one()
    if held:
        url = display_url(conn.engine.url)
        raise BadInput(
            "database",
            f"a simulation writes into an empty ledger; {url} already holds {held} members "
            "(set FLEXLEDGER_DATABASE_URL to a new database)",
        )
    now = sim.clock.now()
    conn.execute(
        insert(simulations).values(
            seed=sim.seed,
            members=len(sim.population),
            first_month=str(sim.first),
            last_month=str(sim.last),
            scenario=sim.scenario.model_dump_json(),
            recorded_at=now,
        )
    )
    store.add_members(
        conn, [(m.id, m.region, m.id[:6], m.sex, m.birth_date, now) for m in sim.population]
    )
    pairs = [(m, s) for m in sim.population for s in sim.schemes_of(m)]
    store.add_enrolments(conn, _rows(sim, pairs, sim.first))
    load_enrolments(sim, conn, [m.id for m in sim.population])


def reenrol(
    sim: Simulation, conn: Connection, changes: list[tuple[Member, Scheme, Enrolment]], month: Month
) -> None:
    """New enrolments from ``month`` for members who changed their base percent."""
    if not changes:
        return
    store.add_enrolments(conn, _rows(sim, [(m, s) for m, s, _ in changes], month))
    load_enrolments(sim, conn, sorted({m.id for m, _, _ in changes}))


def end_enrolments(
    sim: Simulation, conn: Connection, ending: list[tuple[Member, Scheme]], last: Month
) -> None:
    """Members retiring: each enrolment in force is recorded again, ending with ``last``
    (a later row supersedes an earlier one: ``Ledger.enrolment_for``), so no run charges
    or counts as a gap a month after retirement."""
    now = sim.clock.now()
    rows = []
    for member, scheme in ending:
        e = sim.enrolled[(member.id, scheme)]
        rows.append(
            (
                e.member_id,
                e.scheme.value,
                e.region,
                str(e.choice.percent) if e.choice.percent is not None else None,
                e.choice.amount_fen,
                e.choice.grade,
                e.method,
                e.agency,
                str(e.from_month),
                str(last),
                e.signed_on,
                now,
            )
        )
    store.add_enrolments(conn, rows)
    load_enrolments(sim, conn, sorted({m.id for m, _ in ending}))


__all__ = ["BaseChoice", "end_enrolments", "load_enrolments", "reenrol", "register"]
