"""The benefit phase of a simulated story: retirements, pension awards and payments,
deaths by the policy's life table. A part of ``Simulation``: the methods read its
population and send production messages through its sequencer, in the story's order."""

from __future__ import annotations

from ledger.domain import keys
from ledger.domain.period import Month
from ledger.domain.policy.records import LifeTable
from ledger.domain.rules.benefit import age_on
from ledger.domain.rules.pension import retirement
from ledger.domain.schemes import Scheme
from ledger.simulate.calendar import BATCH
from ledger.simulate.population import Member, chance
from ledger.simulate.registry import end_enrolments
from workers.schedule import Run, batches, pensions_run


class BenefitEvents:
    """Retirements (``_retire``, ``_award``), pensions (``_pensions``), deaths (``_deaths``),
    as methods of ``Simulation`` (its ``population``, ``result``, ``ledger``, ``_send``)."""

    def _retire(self, month: Month) -> None:
        """Members reaching the legal age stop paying: their enrolments end the month before."""
        retiring: list[tuple[Member, Scheme]] = []
        for member in self.population:
            if not member.retired and month >= member.retire_month:
                member.retired = True
                self.result.retirees.append((member.id, member.retire_month))
                retiring.extend((member, s) for s in self.schemes_of(member))
                if not member.resident:
                    self._retiring.append(member)
        if retiring:
            with self.ledger.unit_of_work() as conn:
                end_enrolments(self, conn, retiring, month - 1)

    def _award(self) -> None:
        """The month's retirements: a pension awarded from the ledger's months, or the
        scenario's choice for a member short of the minimum (``retirements_batch``)."""
        retiring, self._retiring = self._retiring, []
        rows = [
            [
                m.id,
                retirement(m.birth_date, m.category, self.ledger.policy).date.isoformat(),
                m.category.value,
            ]
            for m in retiring
        ]
        key, choice = f"simulation:retirements:{self._today()}", self.scenario.benefits.short_choice
        self._send(
            lambda _: Run(
                key,
                "retirements_batch",
                tuple(
                    {"run_key": key, "retirements": b, "short_choice": choice}
                    for b in batches(rows, BATCH)
                ),
            )
        )
        self._paying_pensions = True

    def _pensions(self, month: Month) -> None:
        """Every awarded member's pension for ``month`` (``pension_payments_batch``)."""
        today = self._today()
        self._send(lambda conn: pensions_run(conn, month, today, BATCH))

    def _deaths(self, month: Month) -> None:
        """Members dying this month by the policy's life table (``Benefits.mortality``):
        the pension stops, the personal account goes to the heirs (``deaths_batch``); they
        pay no more."""
        mortality, today = self.scenario.benefits, self._today()
        table = self.ledger.policy.at(LifeTable, month.first_day)
        dying = []
        for member in self.population:
            if member.id in self.dead:
                continue
            age, _ = age_on(member.birth_date, month.first_day)
            if chance(self._mortality[member.id], mortality.monthly_death(age, member.sex, table)):
                dying.append(member)
        if not dying:
            return
        active = [m for m in dying if not m.retired]
        for member in dying:
            self.dead.add(member.id)
            member.retired = True
            self.result.deaths.append((member.id, today))
        if active:
            with self.ledger.unit_of_work() as conn:
                end_enrolments(
                    self, conn, [(m, s) for m in active for s in self.schemes_of(m)], month
                )
        rows = [[m.id, today.isoformat()] for m in dying]
        key = keys.simulation_deaths(today)
        self._send(
            lambda _: Run(
                key,
                "deaths_batch",
                tuple({"run_key": key, "deaths": b} for b in batches(rows, BATCH)),
            )
        )
