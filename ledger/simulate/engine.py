"""Simulating member payment histories through the ledger's own rules and recorder.

The simulation walks the calendar month by month and, inside a month, day by day through
the events that happen then (publications, base changes and moves on 1 July, monthly
payments on the 15th, HR companies on the 20th, bank runs on 25 June and 25 December,
back-payments on 28 December, residents' yearly payments on 15 March, interest and gaps
in January). The ledger's clock is the simulated one, so every entry is recorded when it
happened in the story and ``--known-at`` questions get the answers the story implies.

What is shared with production: assessment (``rules.contribution.assess``), the
contribution, fee and gap drafts of ``services`` and ``operations``, late-announcement
adjustments, interest crediting, transfers, and the recorder. What is the simulation's
own: deciding who pays what and when, and batching a whole population's day into one
append (the workers batch by member; the simulation batches by day, which is what makes
millions of months fast).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal

from ledger.adjustments import LATE_PATHS, post_adjustments
from ledger.clock import FixedClock
from ledger.errors import BadInput
from ledger.journal import EntryDraft
from ledger.period import Month
from ledger.policy import PolicySet
from ledger.policy.loader import NATIONAL
from ledger.policy.records import InterestRate
from ledger.rules.contribution import Assessment, BaseChoice, assess
from ledger.schemes import Scheme
from ledger.services import Enrolment, Ledger, contribution_draft
from ledger.simulate.population import Member, chance, draw_members, pick
from ledger.simulate.registry import reenrol, register
from ledger.simulate.scenario import Scenario
from ledger.store.db import refresh_statistics

PAY_DAY, AGENCY_DAY, BANK_DAY, BACK_PAY_DAY, RESIDENT_DAY = 15, 20, 25, 28, 15


@dataclass(frozen=True, slots=True)
class Paid:
    """One period the simulation paid for a member: enough to recompute it by the rules."""

    member_id: str
    scheme: Scheme
    period: Month
    region: str
    choice: BaseChoice
    paid_on: date


@dataclass
class SimulationResult:
    seed: int
    members: int
    first: Month
    last: Month
    contributions: int = 0
    fees: int = 0
    gaps: int = 0
    gap_members: set[str] = field(default_factory=set)
    transfers: int = 0
    adjustments: int = 0
    interest_entries: int = 0
    bank_failures: int = 0
    retirees: list[tuple[str, Month]] = field(default_factory=list)
    trace: list[Paid] | None = None


class Simulation:
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
    ) -> None:
        if not isinstance(ledger.clock, FixedClock):
            raise TypeError("a simulation runs on a FixedClock: its time is the story's")
        self.ledger, self.scenario, self.seed = ledger, scenario, seed
        self.clock: FixedClock = ledger.clock
        self.first, self.last = Month(start, 1), Month(start + years - 1, 12)
        ledger.policy = with_assumed_interest(ledger.policy, scenario.interest.assumed_rate,
                                              self.last.year)  # fmt: skip
        self.population = draw_members(scenario, seed, members, self.first, ledger.policy, regions)
        self.result = SimulationResult(seed, members, self.first, self.last,
                                       trace=[] if trace else None)  # fmt: skip
        self.progress = progress
        self.enrolled: dict[tuple[str, Scheme], Enrolment] = {}
        self._assessed: dict[tuple, Assessment] = {}
        self._publications = sorted(_publications(ledger.policy))
        self._pending_gaps: list[tuple[Member, Month]] = []
        self._bank_gaps: list[tuple[Member, Month]] = []
        self._bank_gateway = None

    # ------------------------------------------------------------------ the calendar

    def run(self) -> SimulationResult:
        self._at(self.first.first_day)
        with self.ledger.unit_of_work() as conn:
            register(self, conn)
        refresh_statistics(self.ledger.engine)
        months = list(self.first.until(self.last))
        for year in range(self.first.year, self.last.year + 1):
            # One transaction a year: each event still records at its own time, but an index
            # page touched by every member each month is written once a year, not twelve
            # times (member-keyed indexes are what bulk posting spends its time on).
            with self.ledger.unit_of_work() as conn:
                self.conn = conn
                for month in Month(year, 1).until(Month(year, 12)):
                    self._month(month)
                    if self.progress:
                        self.progress(months.index(month) + 1, len(months))
            refresh_statistics(self.ledger.engine)
        return self.result

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
        if month.month == 12:
            days.setdefault(BACK_PAY_DAY, []).append(lambda: self._back_pay(month))
        for day in sorted(days):
            self._at(date(month.year, month.month, day))
            for event in days[day]:
                event()

    def _at(self, day: date) -> None:
        self.clock.advance_to(datetime.combine(day, time(12), tzinfo=UTC))

    # ------------------------------------------------------------------ helpers

    def _assessment(self, enrolment: Enrolment, scheme: Scheme, month: Month) -> Assessment:
        today = self.clock.now().date()
        epoch = bisect.bisect_right(self._publications, today)
        choice = enrolment.choice
        key = (enrolment.region, scheme, month, choice.percent, choice.grade, epoch)
        found = self._assessed.get(key)
        if found is None:
            found = assess(self.ledger.policy, enrolment.region, scheme, month, choice,
                           known_at=self.clock.now())  # fmt: skip
            self._assessed[key] = found
        return found

    def _pay(self, member: Member, scheme: Scheme, month: Month, traced: list[Paid]) -> EntryDraft:
        """The contribution draft for one period; ``traced`` collects what it paid."""
        enrolment = self.enrolled[(member.id, scheme)]
        today = self.clock.now().date()
        if self.result.trace is not None:
            traced.append(Paid(member.id, scheme, month, enrolment.region, enrolment.choice, today))
        return contribution_draft(member.id, enrolment, self._assessment(enrolment, scheme, month),
                                  today)  # fmt: skip

    def _schemes(self, member: Member) -> list[Scheme]:
        if member.resident:
            return [Scheme.RESIDENT_PENSION, Scheme.RESIDENT_MEDICAL]
        return [Scheme.PENSION, Scheme.MEDICAL] if member.medical else [Scheme.PENSION]

    def _append(self, drafts: list[EntryDraft], traced: list[Paid] | None = None) -> list:
        if not drafts:
            return []
        recorded = self.ledger.recorder.append(self.conn, drafts)
        if traced and self.result.trace is not None:
            self.result.trace.extend(traced)
        return recorded

    def _active(self, method: str | None = None, resident: bool = False) -> list[Member]:
        return [
            m for m in self.population
            if not m.retired and m.resident == resident and (method is None or m.method == method)
        ]  # fmt: skip

    # ------------------------------------------------------------------ events

    def _retire(self, month: Month) -> None:
        for member in self.population:
            if not member.retired and month >= member.retire_month:
                member.retired = True
                self.result.retirees.append((member.id, member.retire_month))

    def _monthly(self, month: Month) -> None:
        drafts, traced = [], []
        miss = self.scenario.payment.miss_month
        for member in self._active("monthly"):
            if chance(member.rng, miss):
                member.missed.append(month)
                continue
            drafts.extend(self._pay(member, s, month, traced) for s in self._schemes(member))
        self.result.contributions += len(self._append(drafts, traced))

    def _back_pay(self, month: Month) -> None:
        drafts, traced, gaps = [], [], []
        for member in self._active("monthly"):
            for missed in member.missed:
                if chance(member.rng, self.scenario.payment.back_pay):
                    drafts.extend(
                        self._pay(member, s, missed, traced) for s in self._schemes(member)
                    )
                else:
                    gaps.append((member, missed))
            member.missed = []
        self.result.contributions += len(self._append(drafts, traced))
        self._pending_gaps = gaps

    def _agency(self, month: Month) -> None:
        from ledger.operations.fees import fee_draft

        drafts: list[EntryDraft] = []
        traced: list[Paid] = []
        today = self.clock.now().date()
        for member in self._active("agency"):
            for scheme in self._schemes(member):
                drafts.append(self._pay(member, scheme, month, traced))
            enrolment = self.enrolled[(member.id, Scheme.PENSION)]
            drafts.extend(fee_draft(self.ledger, member.id, enrolment, month, today))
        recorded = self._append(drafts, traced)
        self.result.fees += sum(1 for r in recorded if r.draft.kind.value == "fee")
        self.result.contributions += sum(1 for r in recorded if r.draft.kind.value != "fee")

    def _bank(self, month: Month) -> None:
        """Pull everything unpaid this year to date in one call per member (DOMAIN §9)."""
        from ledger.operations.bank import BankOutcome, SimulatedBank

        if self._bank_gateway is None:
            # No timeouts in a simulation: a timeout only delays, and the story is the same.
            self._bank_gateway = SimulatedBank(self.seed, self.scenario.payment.bank_failure,
                                               Decimal(0))  # fmt: skip
        bank = self._bank_gateway
        drafts: list[EntryDraft] = []
        traced: list[Paid] = []
        failed = []
        start = max(Month(month.year, 1), self.first)
        for member in self._active("bank"):
            due = [m for m in start.until(month) if m not in member.bank_paid]
            if not due:
                continue
            tried: list[Paid] = []
            batch = [self._pay(member, s, m, tried) for m in due for s in self._schemes(member)]
            amount = sum(p.amount_fen for d in batch for p in d.postings if p.amount_fen > 0)
            outcome = bank.deduct(f"bank:{member.id}:{due[0]}:{due[-1]}", member.id, amount).outcome
            if outcome is BankOutcome.OK:
                drafts.extend(batch)
                traced.extend(tried)
                member.bank_paid |= set(due)
            else:
                failed.append(member)
        self.result.bank_failures += len(failed)
        self.result.contributions += len(self._append(drafts, traced))
        if month.month == 12:
            self._bank_gaps = [(m, x) for m in failed for x in start.until(month)
                               if x not in m.bank_paid]  # fmt: skip

    def _close_year(self, year: int) -> None:
        """January: last year's unpaid months become gaps; interest is credited."""
        from ledger.operations.bank import gap_draft

        gaps = self._pending_gaps + self._bank_gaps
        self._pending_gaps, self._bank_gaps = [], []
        drafts = []
        for member, month in gaps:
            for scheme in self._schemes(member):
                enrolment = self.enrolled[(member.id, scheme)]
                drafts.append(gap_draft(self.ledger, member.id, enrolment, scheme, month))
            self.result.gap_members.add(member.id)
        self.result.gaps += len(self._append(drafts))
        for member in self.population:
            member.bank_paid.clear()

    def _interest(self, year: int) -> None:
        from ledger.errors import NoPolicyInForce
        from ledger.operations.interest import credit_year

        try:
            with self.conn.begin_nested():
                credited = credit_year(self.ledger, self.conn, year)
        except NoPolicyInForce:
            return  # no published or provisional rate for the year: nothing to credit
        self.result.interest_entries += sum(1 for r in credited if r.created)

    def _adjust(self) -> None:
        recorded = post_adjustments(self.ledger, self.conn, self.clock.now().date())
        self.result.adjustments += sum(1 for r in recorded if r.created)

    def _residents(self, month: Month) -> None:
        traced: list[Paid] = []
        drafts = [
            self._pay(member, scheme, Month(month.year, 1), traced)
            for member in self._active(resident=True)
            for scheme in self._schemes(member)
        ]
        self.result.contributions += len(self._append(drafts, traced))

    def _july(self, month: Month) -> None:
        """A new contribution year: some members change base, some move region."""
        changes: list[tuple[Member, Scheme, Enrolment]] = []
        for member in self._active():
            if member.resident:
                continue
            if chance(member.rng, self.scenario.base.change_per_year):
                member.percent = pick(member.rng, self.scenario.base.percents)
                for scheme in self._schemes(member):
                    old = self.enrolled[(member.id, scheme)]
                    changes.append((member, scheme, old))
        reenrol(self, self.conn, changes, month)
        self._moves(month)

    def _moves(self, month: Month) -> None:
        from ledger.operations.transfers import accept_transfer, request_transfer

        regions = [r for r in self.scenario.population.regions if r in self.ledger.policy.regions]
        for member in self._active():
            if member.resident or not chance(member.rng, self.scenario.moves.per_year):
                continue
            targets = [r for r in regions if r != member.region]
            if not targets:
                continue
            to = targets[member.rng.randrange(len(targets))]
            today = self.clock.now().date()
            conn = self.conn
            for scheme in self._schemes(member):
                old = self.enrolled[(member.id, scheme)]
                try:
                    with conn.begin_nested():
                        transfer = request_transfer(self.ledger, conn, member.id, scheme, to,
                                                    today)  # fmt: skip
                        accept_transfer(self.ledger, conn, transfer, today)
                except BadInput:
                    # Nothing to move (no personal account, nothing paid yet): the
                    # member simply enrols where they now live; months still add up.
                    self.ledger.enroll(conn, member.id, scheme, to, old.choice, month + 1,
                                       old.method, old.agency)  # fmt: skip
                found = self.ledger.enrolment_for(
                    self.ledger.enrolments(conn, member.id, scheme), month + 1
                )
                assert found is not None
                self.enrolled[(member.id, scheme)] = found
            member.region = to
            member.moves += 1
            self.result.transfers += 1


def with_assumed_interest(policy: PolicySet, rate: Decimal, through: int) -> PolicySet:
    """A copy of ``policy`` with a provisional crediting rate for every year up to ``through``
    that has none: a projection needs one, and saying so in the record keeps it honest."""
    national = dict(policy.records.get(NATIONAL, {}))
    rates = list(national.get(InterestRate.path, []))
    have = {r.year for r in rates if isinstance(r, InterestRate)}
    first = max(have, default=through) + 1
    for year in range(first, through + 1):
        rates.append(InterestRate(
            year=year, effective=date(year, 1, 1), published=date(year, 1, 1),
            rate=rate, status="provisional", source="simulation scenario: assumed rate",
            note="no published or provisional rate for this year: the scenario's assumption",
        ))  # fmt: skip
    national[InterestRate.path] = rates
    return PolicySet(regions=policy.regions, records={**policy.records, NATIONAL: national})


def _publications(policy: PolicySet) -> set[date]:
    """Days on which a figure was published after it took effect (late announcements)."""
    found = set()
    for region in policy.regions:
        for kind in LATE_PATHS:
            for record in policy.history(kind.path, region):
                if record.published and record.published > record.effective and not record.variant:
                    found.add(record.published)
    return found


def count_by_scheme(trace: list[Paid]) -> Counter[str]:
    return Counter(p.scheme.value for p in trace)
