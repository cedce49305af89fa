"""Simulating member payment histories through the ledger's own services and workers.

The simulation walks the calendar month by month and, inside a month, day by day through
the events that happen then (publications, base changes and moves on 1 July, monthly
payments on the 15th, HR companies on the 20th, bank runs on 25 June and 25 December,
back-payments on 28 December, residents' yearly payments on 15 March, interest and the
closing of the year in January).

What the simulation decides is the story: who the members are, what base they choose,
who pays on time, misses a month or pays it back, who moves where, when they retire. It
records members and their enrolments as the services do (in bulk rows). Everything that
posts money goes through the production workers, as messages of the production actors,
through the outbox: members' own payments (``post_payments_batch``), the HR
companies' month (``affiliate_fees_run``), the bank runs (``bank_deduction_run``, the
scenario's bank), the closing of the year (``close_year_run``), interest
(``interest_run``, with the scenario's assumed rate where none is published), late
announcements (``late_adjustments``) and transfers (``transfers_run``: the requests, then
the accepts the worker chains). ``workers.sequence.Sequencer`` sends them one at a time in the
story's order, each carrying the story's time, so the same seed gives the same ledger
entry for entry whichever worker processes take them; a message carries a whole batch,
which the worker drafts and appends in one pass.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time

from sqlalchemy import Connection

from ledger.config import Settings
from ledger.domain import keys
from ledger.domain.clock import FixedClock
from ledger.domain.errors import BackPaymentWindowClosed, NoPolicyInForce
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet
from ledger.domain.policy.assumed import with_assumed_interest
from ledger.domain.rules.interest import rate_for
from ledger.domain.schemes import Scheme
from ledger.operations.adjustments import LATE_PATHS
from ledger.operations.services import Ledger
from ledger.simulate.benefits import BenefitEvents
from ledger.simulate.calendar import (
    AGENCY_DAY,
    AWARD_DAY,
    BACK_PAY_DAY,
    BANK_DAY,
    BATCH,
    DEATH_DAY,
    PAY_DAY,
    PENSION_DAY,
    RESIDENT_DAY,
)
from ledger.simulate.population import Member, chance, draw_members, pick
from ledger.simulate.registry import load_enrolments, reenrol, register
from ledger.simulate.result import Paid, SimulationResult, tally
from ledger.simulate.scenario import Scenario
from ledger.store.db import deferred_sync, refresh_statistics
from workers.schedule import (
    Run,
    affiliate_fees_run,
    bank_deduction_run,
    batches,
    close_year_run,
    interest_run,
    transfers_run,
)
from workers.sequence import Sequencer


class Simulation(BenefitEvents):
    """One run: a population over ``years`` from ``start``, into ``ledger``'s database."""

    def __init__(
        self,
        ledger: Ledger,
        scenario: Scenario,
        *,
        seed: int,
        members: int,
        years: int,
        start: int,
        regions: list[str] | None = None,
        trace: bool = False,
        progress: Callable[[int, int], None] | None = None,
        sequencer: Sequencer | None = None,
    ) -> None:
        if not isinstance(ledger.clock, FixedClock):
            raise TypeError("a simulation runs on a FixedClock: its time is the story's")
        self.ledger, self.scenario, self.seed = ledger, scenario, seed
        self.clock: FixedClock = ledger.clock
        self.first, self.last = Month(start, 1), Month(start + years - 1, 12)
        ledger.policy = with_assumed_interest(
            ledger.policy, scenario.interest.assumed_rate, self.last.year
        )
        self.population = draw_members(scenario, seed, members, self.first, ledger.policy, regions)
        self.result = SimulationResult(
            seed, members, self.first, self.last, trace=[] if trace else None
        )
        self.progress = progress
        self.sequencer = sequencer
        self.enrolled: dict[tuple[str, Scheme], Enrolment] = {}
        self._publications = sorted(_publications(ledger.policy))
        # Deaths draw from their own stream per member, so that adding them changed no
        # other draw of a member's story.
        self._mortality = {m.id: random.Random(f"{seed}:{m.index}:death") for m in self.population}
        self.dead: set[str] = set()
        self._retiring: list[Member] = []
        self._paying_pensions = False

    # ------------------------------------------------------------------ the calendar

    def run(self) -> SimulationResult:
        own = self.sequencer is None
        sequencer = self.sequencer = self.sequencer or Sequencer(
            Settings(database_url=self.ledger.engine.url.render_as_string(False)),
            self.ledger.engine,
        )
        # A simulation's ledger was empty and its seed writes it again: SQLite syncs it to
        # disk once, at the end (its workers stopped), not at every checkpoint of their commits.
        with deferred_sync(self.ledger.engine):
            try:
                self._story()
            finally:
                if own:
                    sequencer.close()
        self.result.messages = sequencer.messages
        self.result.workers = "embedded" if sequencer.embedded else "redis"
        tally(self.result, self.ledger.engine)
        return self.result

    def _story(self) -> None:
        self._at(self.first.first_day)
        with self.ledger.unit_of_work() as conn:
            register(self, conn)
        refresh_statistics(self.ledger.engine)
        months = list(self.first.until(self.last))
        for year in range(self.first.year, self.last.year + 1):
            for month in Month(year, 1).until(Month(year, 12)):
                self._month(month)
                if self.progress:
                    self.progress(months.index(month) + 1, len(months))
            refresh_statistics(self.ledger.engine)

    def _month(self, month: Month) -> None:
        self._retire(month)
        days: dict[int, list[Callable[[], None]]] = {}
        if month.month == 1 and month > self.first:
            days.setdefault(2, []).append(lambda: self._close_year(month.year - 1))
        if month.month == 7 and month > self.first:
            # The crediting rate is published around June of the following year.
            days.setdefault(1, []).append(lambda: self._interest(month.year - 1))
        for published in self._publications:
            if Month.of(published) == month:
                days.setdefault(published.day, []).append(self._adjust)
        if month.month == 7 and month > self.first:
            days.setdefault(1, []).append(lambda: self._july(month))
        if month.month == 3:
            days.setdefault(RESIDENT_DAY, []).append(lambda: self._residents(month))
        days.setdefault(PAY_DAY, []).append(lambda: self._monthly(month))
        days.setdefault(AGENCY_DAY, []).append(lambda: self._agency(month))
        if month.month in (6, 12):
            days.setdefault(BANK_DAY, []).append(lambda: self._bank(month))
        elif monthly := self._monthly_only(month):
            days.setdefault(BANK_DAY, []).append(lambda: self._bank(month, monthly))
        if month.month == 12:
            days.setdefault(BACK_PAY_DAY, []).append(lambda: self._back_pay(month))
        if self._paying_pensions:
            days.setdefault(PENSION_DAY, []).append(lambda: self._pensions(month))
        if self._retiring:
            days.setdefault(AWARD_DAY, []).append(self._award)
        days.setdefault(DEATH_DAY, []).append(lambda: self._deaths(month))
        for day in sorted(days):
            self._at(date(month.year, month.month, day))
            for event in days[day]:
                event()

    def _at(self, day: date) -> None:
        self.clock.advance_to(datetime.combine(day, time(12), tzinfo=UTC))

    # ------------------------------------------------------------------ helpers

    def _send(self, build: Callable[[Connection], Run]) -> None:
        """Plan a production run on the ledger as it is now, and have the workers do it."""
        with self.ledger.engine.connect() as conn:
            run = build(conn)
        assert self.sequencer is not None
        self.sequencer.send(run, self.clock.now())

    def _today(self) -> date:
        return self.clock.now().date()

    def _pay(self, label: str, pairs: list[tuple[Member, Scheme]], month: Month) -> None:
        """Members paying ``month`` themselves today: one ``post_payments_batch`` run."""
        if not pairs:
            return
        today = self._today()
        if self.result.trace is not None:
            self.result.trace.extend(self._paid(m, s, month, today) for m, s in pairs)
        key = keys.simulation_step(label, month, today)
        common = {
            "run_key": key,
            "first": str(month),
            "last": str(month),
            "paid_on_iso": today.isoformat(),
        }
        listed = [[m.id, s.value] for m, s in pairs]
        self._send(
            lambda _: Run(
                key,
                "post_payments_batch",
                tuple({**common, "pairs": b} for b in batches(listed, BATCH)),
            )
        )

    def _paid(self, member: Member, scheme: Scheme, month: Month, today: date) -> Paid:
        enrolment = self.enrolled[(member.id, scheme)]
        return Paid(member.id, scheme, month, enrolment.region, enrolment.choice, today)

    def schemes_of(self, member: Member) -> list[Scheme]:
        if member.resident:
            return [Scheme.RESIDENT_PENSION, Scheme.RESIDENT_MEDICAL]
        return [Scheme.PENSION, Scheme.MEDICAL] if member.medical else [Scheme.PENSION]

    def _active(self, method: str | None = None, resident: bool = False) -> list[Member]:
        return [
            m
            for m in self.population
            if not m.retired and m.resident == resident and (method is None or m.method == method)
        ]

    # ------------------------------------------------------------------ events

    def _monthly(self, month: Month) -> None:
        miss = self.scenario.payment.miss_month
        paying = []
        for member in self._active("monthly"):
            if chance(member.rng, miss):
                member.missed.append(month)
            else:
                paying.append(member)
        self._pay("monthly", [(m, s) for m in paying for s in self.schemes_of(m)], month)

    def _back_pay(self, month: Month) -> None:
        """December: members pay back some of the months they missed, where the window is
        still open; the rest become gaps when the year is closed."""
        back: dict[Month, list[tuple[Member, Scheme]]] = {}
        for member in self._active("monthly"):
            for missed in member.missed:
                if chance(member.rng, self.scenario.payment.back_pay) and self._open(
                    member, missed
                ):
                    back.setdefault(missed, []).extend((member, s) for s in self.schemes_of(member))
            member.missed = []
        for missed in sorted(back):
            self._pay("back-pay", back[missed], missed)

    def _open(self, member: Member, missed: Month) -> bool:
        try:
            self.ledger.check_window(member.region, missed, self._today())
        except BackPaymentWindowClosed:
            return False
        return True

    def _agency(self, month: Month) -> None:
        today = self._today()
        if self.result.trace is not None:
            agency = self._active("agency")
            self.result.trace.extend(
                self._paid(m, s, month, today) for m in agency for s in self.schemes_of(m)
            )
        self._send(lambda conn: affiliate_fees_run(conn, month, today, BATCH))

    def _bank(self, month: Month, regions: frozenset[str] | None = None) -> None:
        """The bank pulls everything unpaid this year to date, one call per member and
        scheme (DOMAIN.md §9): June is the year's first round, December the second. In a
        region that takes months only in the month itself (Shanghai, 沪人社规〔2023〕5号),
        the bank pulls its members' month every month (``regions``), since a month left
        to June could no longer be paid."""
        today, rate = self._today(), str(self.scenario.payment.bank_failure)
        round_ = 1 if month.month == 6 or regions is not None else 2
        for scheme in (Scheme.PENSION, Scheme.MEDICAL):
            self._send(
                lambda conn, s=scheme: _with(
                    bank_deduction_run(
                        conn, month.year, s, today, self.seed, BATCH, round_, regions
                    ),
                    failure_rate=rate,
                )
            )

    def _monthly_only(self, month: Month) -> frozenset[str]:
        """The scenario's regions that take flexible employees' months only in the month."""
        return frozenset(
            r
            for r in self.scenario.population.regions
            if r in self.ledger.policy.regions and self.ledger.monthly_only(r, month)
        )

    def _close_year(self, year: int) -> None:
        """January: last year's months still unpaid whose window closed become gaps."""
        today = self._today()
        for scheme in (Scheme.PENSION, Scheme.MEDICAL):
            self._send(lambda conn, s=scheme: close_year_run(conn, year, s, today, BATCH))

    def _interest(self, year: int) -> None:

        try:
            rate_for(year, self.ledger.policy, self.clock.now())
        except NoPolicyInForce:
            return  # no published or provisional rate for the year: nothing to credit
        assumed = str(self.scenario.interest.assumed_rate)
        self._send(
            lambda conn: _with(
                interest_run(conn, year, Scheme.PENSION, BATCH), assumed_rate=assumed
            )
        )

    def _adjust(self) -> None:
        today = self._today()
        key = keys.late_adjustments_run(today)
        self._send(
            lambda _: Run(
                key, "late_adjustments", ({"run_key": key, "today_iso": today.isoformat()},)
            )
        )

    def _residents(self, month: Month) -> None:
        residents = self._active(resident=True)
        self._pay(
            "residents",
            [(m, s) for m in residents for s in self.schemes_of(m)],
            Month(month.year, 1),
        )

    def _july(self, month: Month) -> None:
        """A new contribution year: some members change base, some move region."""
        changes: list[tuple[Member, Scheme, Enrolment]] = []
        for member in self._active():
            if member.resident:
                continue
            if chance(member.rng, self.scenario.base.change_per_year):
                member.percent = pick(member.rng, self.scenario.base.percents)
                for scheme in self.schemes_of(member):
                    old = self.enrolled[(member.id, scheme)]
                    changes.append((member, scheme, old))
        if changes:
            with self.ledger.unit_of_work() as conn:
                reenrol(self, conn, changes, month)
        self._moves(month)

    def _moves(self, month: Month) -> None:
        """Members moving region ask for a transfer (the workers request and accept it);
        where there is nothing to move, or the destination refuses, they simply enrol
        where they now live: their months still add up."""
        regions = [r for r in self.scenario.population.regions if r in self.ledger.policy.regions]
        today = self._today()
        moving: list[tuple[Member, str]] = []
        for member in self._active():
            if member.resident or not chance(member.rng, self.scenario.moves.per_year):
                continue
            targets = [r for r in regions if r != member.region]
            if not targets:
                continue
            moving.append((member, targets[member.rng.randrange(len(targets))]))
        if not moving:
            return
        ids = [keys.transfer_id(m.id, s, to, today) for m, to in moving for s in self.schemes_of(m)]
        self._send(lambda _: transfers_run(keys.transfers_run(today), ids, today))
        with self.ledger.unit_of_work() as conn:
            load_enrolments(self, conn, sorted(m.id for m, _ in moving))
            for member, to in moving:
                for scheme in self.schemes_of(member):
                    old = self.enrolled[(member.id, scheme)]
                    found = self.ledger.enrolment_for(
                        self.ledger.enrolments(conn, member.id, scheme), month
                    )
                    if found is None or found.region != to:
                        self.ledger.enroll(
                            conn, member.id, scheme, to, old.choice, month, old.method, old.agency
                        )
            load_enrolments(self, conn, sorted(m.id for m, _ in moving))
        for member, to in moving:
            member.region = to
            # Months missed at the source stay gaps: it takes no payment after the
            # transfer (国办发〔2009〕66号), and the destination holds no enrolment for them.
            member.missed = []
            member.moves += 1
            self.result.transfers += 1


def _with(run: Run, **extra: str) -> Run:
    """``run`` with ``extra`` in every message (a simulation's scenario for the worker)."""
    return replace(run, messages=tuple({**m, **extra} for m in run.messages))


def _publications(policy: PolicySet) -> set[date]:
    """Days on which a figure was published after it took effect (late announcements)."""
    found = set()
    for region in policy.regions:
        for kind in LATE_PATHS:
            for record in policy.history(kind.path, region):
                if record.published and record.published > record.effective and not record.variant:
                    found.add(record.published)
    return found
