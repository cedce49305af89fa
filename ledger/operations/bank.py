"""The bank behind withholding (委托银行代扣, DOMAIN.md §9): the gateway and a simulated bank.

A member whose enrolment in force uses method ``bank`` has a three-party agreement; a run
asks the bank for the months due in one deduction (``ledger.operations.withholding``). The
gateway's promise: a reference is charged at most once; asked again, the bank answers
with the first result, amount included. The reference names the member, scheme, year and
run day (``reference_for``), so a retry of the same run sends the same one, and a run on
another day is a new deduction (months refused for insufficient funds are tried again).
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Protocol

from ledger.config import Settings
from ledger.domain import keys
from ledger.domain.errors import BadInput, BankUnavailable
from ledger.domain.schemes import Scheme

DEFAULT_FAILURE_RATE = Decimal(Settings.bank_failure_rate)


class BankOutcome(StrEnum):
    OK = "ok"
    INSUFFICIENT_FUNDS = "insufficient-funds"
    ACCOUNT_CLOSED = "account-closed"


@dataclass(frozen=True, slots=True)
class BankResult:
    outcome: BankOutcome
    bank_ref: str
    amount_fen: int  # what the reference was settled for: its first request's amount


class BankGateway(Protocol):
    def deduct(self, reference: str, member_id: str, amount_fen: int) -> BankResult:
        """Charge ``amount_fen`` once per ``reference``: a settled reference returns its
        first result, amount included. Raises ``BankUnavailable`` when the bank does not
        answer in time."""
        ...

    def first_result(self, reference: str) -> BankResult | None:
        """The first result of ``reference`` without charging; None if never asked."""
        ...


def reference_for(member_id: str, scheme: Scheme, year: int, today: date) -> str:
    """One run's deduction for a member: the same on every retry of the run."""
    return keys.bank_reference(member_id, scheme, year, today)


def _draw(*parts: object) -> Fraction:
    """A uniform number in [0, 1) from sha256 of ``parts``: no global random state."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return Fraction(int.from_bytes(digest[:8], "big"), 2**64)


class SimulatedBank:
    """A bank whose answers are a pure function of (seed, reference, attempt number).

    ``failure_rate`` is split among the three failure kinds: ``timeout_rate`` of the
    attempts time out (default a third of ``failure_rate``), and the rest of
    ``failure_rate`` is shared equally by insufficient funds and closed accounts, drawn
    once per reference. A timeout loses the answer, not the charge: the reference is
    settled first, so a retry learns the first result (the hard case for the caller).

    A real bank remembers settled references for good. This one remembers them in memory
    (``settled``), for its process only; across processes the ledger's idempotency keys
    are that memory: a month already posted is never in a deduction again. Thread-safe.
    """

    def __init__(
        self,
        seed: int,
        failure_rate: Decimal = DEFAULT_FAILURE_RATE,
        timeout_rate: Decimal | None = None,
    ) -> None:
        timeouts = failure_rate / 3 if timeout_rate is None else timeout_rate
        if not Decimal(0) <= timeouts <= failure_rate <= Decimal(1):
            rule = f"need 0 <= timeout_rate {timeouts} <= failure_rate {failure_rate} <= 1"
            raise BadInput("failure_rate", rule)
        self.seed = seed
        self.failure_rate = Fraction(failure_rate)
        self.timeout_rate = Fraction(timeouts)
        self.settled: dict[str, tuple[str, int, BankResult]] = {}
        self.attempts: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, seed: int) -> SimulatedBank:
        return cls(seed, Decimal(settings.bank_failure_rate))

    def outcome_for(self, reference: str) -> BankOutcome:
        """What the bank answers ``reference``, drawn once from the seed and the reference."""
        permanent = self.failure_rate - self.timeout_rate
        draw = _draw(self.seed, reference)
        if draw < permanent / 2:
            return BankOutcome.INSUFFICIENT_FUNDS
        if draw < permanent:
            return BankOutcome.ACCOUNT_CLOSED
        return BankOutcome.OK

    def deduct(self, reference: str, member_id: str, amount_fen: int) -> BankResult:
        with self._lock:
            self.attempts[reference] += 1
            attempt = self.attempts[reference]
            if reference not in self.settled:
                ref = hashlib.sha256(f"{self.seed}|{reference}".encode()).hexdigest()[:16]
                result = BankResult(self.outcome_for(reference), f"SIM-{ref}", amount_fen)
                self.settled[reference] = (member_id, amount_fen, result)
            if _draw(self.seed, reference, attempt) < self.timeout_rate:
                raise BankUnavailable(f"bank timed out on {reference} (attempt {attempt})")
            return self.settled[reference][2]

    def first_result(self, reference: str) -> BankResult | None:
        with self._lock:
            found = self.settled.get(reference)
        return found[2] if found is not None else None
