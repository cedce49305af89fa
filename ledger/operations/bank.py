"""Bank withholding (委托银行代扣, DOMAIN.md §9): one bank call per member and year to date.

A member whose enrolment in force uses method ``bank`` has a three-party agreement; it
takes effect ``payment.bank_agreement.takes_effect_after_months`` after the month it was
signed (Nanjing tax bureau: the next month). A run pulls every month of the year from
then up to today's month that is still unpaid, in ONE deduction (Hengyang: a shortfall
fails the whole batch, which rolls into the next run because its months stay unpaid).

Invariants and idempotency:
- a month is posted only after the bank said ``ok`` for a deduction covering it, as one
  ``contribution`` entry (key ``contribution:<period>:<member>:<scheme>``, paid on the run's
  day); the recorder refuses a month paid twice;
- the bank reference is ``bank:<member>:<scheme>:<year>:<run day>``: a retry of the same
  run (a timeout, a redelivered message) sends the same reference whatever happened in
  between, and the bank answers a reference it has settled with its first result, amount
  included, never charging twice; a run on another day is a new deduction, so months
  refused for insufficient funds are tried again there;
- a deduction the bank settled ``ok`` is recorded in the same transaction as its months:
  the contributions, a ``bank_settlements`` row for the reference, and, if the bank
  collected more than the months still due cost, an ``overpayment`` entry for the rest
  (debit the collection account, credit ``refunds:<scheme>:<member>``: owed back). That
  happens when the first attempt's commit was lost after the bank charged and the member
  paid some months otherwise before the retry: the retry records what the bank took, and
  a run finding its reference in ``bank_settlements`` calls the bank no more. With nothing
  left due, the run still asks the bank (``first_result``) whether it took money under the
  reference. A bank that collected LESS than the months due cost (the plan grew after the
  charge) is refused for that member, naming both amounts: nothing is posted;
- a month (paid by any method) still unpaid when its region's back-payment window closes
  (``payment.back_payment``: a month of year Y cannot be paid after Y) is not charged but
  recorded as a gap: one ``arrears`` entry, key ``gap:<period>:<member>:<scheme>``, dated
  the day the window closed, debit ``arrears:<scheme>:<member>``, credit
  ``gaps:<scheme>:<region>`` (months never collected: the contra of the arrears, so no fund
  is credited with money that never came; the same debit, not a fund, so nothing reaches
  a personal account). A run of the bank pays only bank months; closing the year
  (``close_year``, ``plan_year``) records the gaps of every method. A later payment
  for the month is refused by ``Ledger.contribute``'s window check, naming the reason.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from typing import Protocol

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from ledger.config import Settings
from ledger.domain import keys
from ledger.domain.accounts import arrears, collection, refunds
from ledger.domain.accounts import gaps as gaps_account
from ledger.domain.errors import (
    BackPaymentWindowClosed,
    BadInput,
    BankUnavailable,
    LedgerError,
    SettlementRecorded,
    SettlementShort,
)
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Enrolment, Member
from ledger.domain.period import Month
from ledger.domain.policy.records import BackPayment, BankAgreement
from ledger.domain.rules.contribution import assess
from ledger.domain.schemes import Scheme
from ledger.operations import paid_periods, recorded_keys
from ledger.operations.bulk import enrolments_of, paid_of
from ledger.operations.services import Ledger
from ledger.store import enrolment_index
from ledger.store.bulk import bulk_insert
from ledger.store.queries import Departure, departures_of
from ledger.store.recorder import RecordedEntry, savepoint
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import bank_settlements, enrolments

DEFAULT_FAILURE_RATE = Decimal(Settings.bank_failure_rate)
SETTLEMENT_CHUNK = 500
SETTLEMENT_COLUMNS = (
    "reference",
    "member_id",
    "scheme",
    "bank_ref",
    "settled_fen",
    "due_fen",
    "recorded_at",
)


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


@dataclass(frozen=True, slots=True)
class DeductionResult:
    """One member's run: the deduction tried (if any months were due) and what was posted.

    ``outcome`` is None when nothing was due; ``months`` are the months the deduction
    covered; ``posted`` and ``gaps`` hold only entries written by this run.
    """

    member_id: str
    scheme: str
    year: int
    outcome: BankOutcome | None = None
    reference: str | None = None
    bank_ref: str | None = None
    amount_fen: int = 0
    months: tuple[str, ...] = ()
    posted: tuple[RecordedEntry, ...] = ()
    gaps: tuple[RecordedEntry, ...] = ()
    settled_fen: int = 0  # what the bank collected under ``reference`` (``ok`` only)


@dataclass(frozen=True, slots=True)
class _Plan:
    due: list[EntryDraft]  # contribution drafts for months the bank may still collect
    gaps: list[EntryDraft]  # arrears drafts for months whose window closed, not yet recorded
    region: str | None = None  # where the member is enrolled in the run's last month


def agreement_starts(ledger: Ledger, enrolment: Enrolment) -> Month:
    """The first month a withholding agreement collects: after signing, never before enrolling."""
    if enrolment.signed_on is None:
        return enrolment.from_month
    rule = ledger.policy.at(BankAgreement, enrolment.signed_on, enrolment.region)
    return max(enrolment.from_month, Month.of(enrolment.signed_on) + rule.takes_effect_after_months)


def _plan(
    ledger: Ledger, conn: Connection, member_id: str, scheme: Scheme, year: int, today: date
) -> _Plan:
    if scheme.is_yearly:
        raise BadInput("scheme", f"{scheme} is collected once a year, not by bank months")
    member = ledger.member(conn, member_id)
    if today.year < year:
        return _Plan([], [])
    found = ledger.enrolments(conn, member.id, scheme)
    paid = paid_periods(conn, member.id, scheme.value, f"{year}-01", str(_last(year, today)))
    departed = departures_of(conn, [member.id], scheme.value).get(member.id)
    plan = plan_year(ledger, member, found, paid, scheme, year, today, departed=departed)
    done = recorded_keys(conn, [g.idempotency_key for g in plan.gaps])
    return replace(plan, gaps=[g for g in plan.gaps if g.idempotency_key not in done])


def _last(year: int, today: date) -> Month:
    return Month(year, 12) if today.year > year else Month.of(today)


def plan_year(
    ledger: Ledger,
    member: Member | str,
    found: Sequence[Enrolment],
    paid: set[str],
    scheme: Scheme,
    year: int,
    today: date,
    cache: dict | None = None,
    departed: Mapping[str, Departure] | None = None,
) -> _Plan:
    """What a run on ``today`` finds for the member's ``year`` (no I/O): the bank months
    still collectable (``due``), and every enrolled month still unpaid whose back-payment
    window has closed (``gaps``), whatever the method: a month paid monthly or through a
    company and never paid is as much a gap as one the bank could not collect. Bank
    months before the withholding agreement took effect are the member's to pay: they
    are neither due nor, while their window is open, gaps. Months enrolled in a region
    the member's insurance was transferred out of (``departed``) are neither: the
    relationship there ended with the transfer (国办发〔2009〕66号)."""
    member_id = member if isinstance(member, str) else member.id
    due, gaps = [], []
    last = _last(year, today)
    for month, text in _months(year, last):
        if text in paid:
            continue
        enrolment = ledger.enrolment_for(found, month)
        if enrolment is None:
            continue
        if departed and enrolment.region in departed:
            continue
        bank = enrolment.method == "bank"
        if bank and month < agreement_starts(ledger, enrolment):
            continue
        try:
            drafts = ledger.contribution_drafts(
                member, found, scheme, month, month, today, cache=cache
            )
        except BackPaymentWindowClosed:
            gaps.append(gap_draft(ledger, member_id, enrolment, scheme, month))
            continue
        if bank:
            due.extend(drafts)
    latest = ledger.enrolment_for(found, last) or (found[-1] if found else None)
    return _Plan(due, gaps, latest.region if latest is not None else None)


@lru_cache(maxsize=256)
def _months(year: int, last: Month) -> tuple[tuple[Month, str], ...]:
    """January of ``year`` to ``last``, each with its ``YYYY-MM`` (a batch asks per member)."""
    return tuple((m, str(m)) for m in Month(year, 1).until(last))


def plan_batch(
    ledger: Ledger,
    conn: Connection,
    member_ids: Sequence[str],
    scheme: Scheme,
    year: int,
    today: date,
) -> tuple[dict[str, _Plan], list[str]]:
    """``_plan`` for a batch in a few queries: (plans by member, members left out).

    A member with no enrolment in ``scheme`` (not registered, say), or whose planning a
    rule refuses, is left out for the caller's per-member path, which reports the refusal
    for that member.
    """
    if scheme.is_yearly:
        raise BadInput("scheme", f"{scheme} is collected once a year, not by bank months")
    found = enrolments_of(conn, member_ids, scheme)
    left = [m for m in member_ids if m not in found]
    ids = [m for m in member_ids if m in found]
    if today.year < year:
        return {m: _Plan([], []) for m in ids}, left
    paid = paid_of(conn, ids, scheme, f"{year}-01", str(_last(year, today)))
    departed = departures_of(conn, ids, scheme.value)
    cache: dict = {}
    plans: dict[str, _Plan] = {}
    for member_id in ids:
        try:
            paid_months = paid.get(member_id, set())
            plans[member_id] = plan_year(
                ledger,
                member_id,
                found[member_id],
                paid_months,
                scheme,
                year,
                today,
                cache,
                departed.get(member_id),
            )
        except LedgerError:
            left.append(member_id)
    done = recorded_keys(conn, [g.idempotency_key for p in plans.values() for g in p.gaps])
    return {
        m: replace(p, gaps=[g for g in p.gaps if g.idempotency_key not in done])
        for m, p in plans.items()
    }, left


def gap_draft(
    ledger: Ledger, member_id: str, enrolment: Enrolment, scheme: Scheme, month: Month
) -> EntryDraft:
    """Arrears for a month never collected, dated the day its back-payment window closed."""
    rule = ledger.monthly_only(enrolment.region, month) or ledger.policy.at(
        BackPayment, month.first_day, enrolment.region
    )
    closed = ledger.window_closes(enrolment.region, month)
    owed = assess(
        ledger.policy,
        enrolment.region,
        scheme,
        month,
        enrolment.choice,
        known_at=ledger.clock.now(),
    )
    return EntryDraft.build(
        kind=EntryKind.ARREARS,
        effective_date=closed,
        idempotency_key=keys.gap(month, member_id, scheme),
        reason=f"gap: {month} unpaid when the back-payment window closed on {closed} "
        f"({rule.source})",
        period=str(month),
        member_id=member_id,
        scheme=scheme.value,
        region=enrolment.region,
        base_fen=owed.base_fen,
        postings=[
            (arrears(scheme.value, member_id), owed.total_fen),
            (gaps_account(scheme.value, enrolment.region), -owed.total_fen),
        ],
    )


def deduct_member_year(
    ledger: Ledger,
    conn: Connection,
    member_id: str,
    scheme: Scheme,
    year: int,
    bank: BankGateway,
    today: date,
) -> DeductionResult:
    """Deduct the member's unpaid months of ``year`` up to today's month in one bank call.

    On ``ok`` every month is posted as a contribution paid ``today`` (with an overpayment
    for whatever else the bank collected under the reference, and the settlement row); on
    insufficient funds or a closed account nothing is posted (the months roll into the
    next run); a timeout raises ``BankUnavailable`` and, raised inside the caller's
    transaction, leaves nothing written. Months whose window has closed are recorded as
    gaps, not charged. A reference already recorded is not asked again.
    """
    plan = _plan(ledger, conn, member_id, scheme, year, today)
    gaps = [r for r in ledger.recorder.append(conn, plan.gaps) if r.created]
    if recorded_settlements(conn, [reference_for(member_id, scheme, year, today)]):
        return DeductionResult(member_id, scheme.value, year, gaps=tuple(gaps))
    charged = charge(member_id, scheme, year, plan, bank, today)
    posted: list[RecordedEntry] = []
    if charged.outcome is BankOutcome.OK:
        posted = ledger.recorder.append(conn, settlement_drafts(ledger, charged, plan, today))
        record_settlements(conn, [charged], ledger.clock.now())
    return replace(charged, posted=tuple(r for r in posted if r.created), gaps=tuple(gaps))


def deduct_batch(
    ledger: Ledger,
    conn: Connection,
    member_ids: Sequence[str],
    scheme: Scheme,
    year: int,
    bank: BankGateway,
    today: date,
    call: Callable[[Callable[[], DeductionResult]], DeductionResult] = lambda ask: ask(),
) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """``deduct_member_year`` for a batch in one pass: ({member: (outcome, entries
    written)}, members left for the per-member path). ``call`` wraps each bank call (the
    worker retries timeouts there). A member the bank settled short is left out: the
    per-member path asks again (the same reference: no second charge) and reports it."""
    plans, left = plan_batch(ledger, conn, member_ids, scheme, year, today)
    references = {m: reference_for(m, scheme, year, today) for m in plans}
    done = recorded_settlements(conn, references.values())
    drafts: list[EntryDraft] = []
    owners: list[str] = []
    outcome: dict[str, str] = {}
    settled: list[DeductionResult] = []
    for member in member_ids:
        plan = plans.get(member)
        if plan is None:
            continue
        if references[member] in done:
            result = DeductionResult(member, scheme.value, year)
        else:
            result = call(lambda p=plan, m=member: charge(m, scheme, year, p, bank, today))
        taken = list(plan.gaps)
        if result.outcome is BankOutcome.OK:
            try:
                taken.extend(settlement_drafts(ledger, result, plan, today))
            except SettlementShort:
                left.append(member)
                continue
            settled.append(result)
        outcome[member] = result.outcome.value if result.outcome else "nothing-due"
        drafts.extend(taken)
        owners.extend([member] * len(taken))
    recorded = ledger.recorder.append(conn, drafts)
    record_settlements(conn, settled, ledger.clock.now())
    created = Counter(o for o, r in zip(owners, recorded, strict=True) if r.created)
    return {m: (o, created[m]) for m, o in outcome.items()}, left


def charge(
    member_id: str, scheme: Scheme, year: int, plan: _Plan, bank: BankGateway, today: date
) -> DeductionResult:
    """Ask the bank for the plan's due months in one call; nothing is recorded here. The
    reference names the run, so asking again is answered with the first result. With
    nothing due, the bank is only asked what it collected under the reference before (a
    first attempt whose commit was lost): ``ok`` with ``settled_fen`` if it did."""
    reference = reference_for(member_id, scheme, year, today)
    if not plan.due:
        first = bank.first_result(reference)
        if first is None or first.outcome is not BankOutcome.OK or not first.amount_fen:
            return DeductionResult(member_id, scheme.value, year)
        return DeductionResult(
            member_id,
            scheme.value,
            year,
            first.outcome,
            reference,
            first.bank_ref,
            0,
            (),
            settled_fen=first.amount_fen,
        )
    months = tuple(d.period or "" for d in plan.due)
    amount_fen = sum(
        p.amount_fen for d in plan.due for p in d.postings if p.account.startswith("collection:")
    )
    result = bank.deduct(reference, member_id, amount_fen)
    return DeductionResult(
        member_id,
        scheme.value,
        year,
        result.outcome,
        reference,
        result.bank_ref,
        amount_fen,
        months,
        settled_fen=result.amount_fen,
    )


def settlement_drafts(
    ledger: Ledger, result: DeductionResult, plan: _Plan, today: date
) -> list[EntryDraft]:
    """What an ``ok`` deduction records: the months due, and an overpayment for whatever
    the bank collected beyond them. Refuses (``SettlementShort``) a bank that collected
    less than the months cost: posting them would record money never received."""
    extra = result.settled_fen - result.amount_fen
    if extra < 0:
        raise SettlementShort(
            f"bank {result.bank_ref} settled {result.reference} for {result.settled_fen} fen, "
            f"but the months due ({', '.join(result.months)}) cost {result.amount_fen} fen: "
            "nothing posted; run the deduction again another day"
        )
    if not extra:
        return list(plan.due)
    if plan.region is None:
        raise SettlementShort(f"{result.member_id} has no enrolment to refund {extra} fen to")
    return [
        *plan.due,
        EntryDraft.build(
            kind=EntryKind.OVERPAYMENT,
            effective_date=today,
            idempotency_key=keys.overpayment(result.reference),
            reason=f"bank {result.bank_ref} collected {result.settled_fen} fen under "
            f"{result.reference}; the months still due cost {result.amount_fen} fen: "
            f"{extra} fen was for months paid otherwise meanwhile, owed back to the member",
            member_id=result.member_id,
            scheme=result.scheme,
            region=plan.region,
            postings=[
                (collection(result.scheme, plan.region), extra),
                (refunds(result.scheme, result.member_id), -extra),
            ],
        ),
    ]


def recorded_settlements(conn: Connection, references: Iterable[str]) -> set[str]:
    """The references in ``references`` whose deduction the ledger has recorded."""
    wanted = sorted(set(references))
    found: set[str] = set()
    for start in range(0, len(wanted), SETTLEMENT_CHUNK):
        found.update(
            conn.execute(
                select(bank_settlements.c.reference).where(
                    bank_settlements.c.reference.in_(wanted[start : start + SETTLEMENT_CHUNK])
                )
            ).scalars()
        )
    return found


def record_settlements(conn: Connection, results: Sequence[DeductionResult], now: datetime) -> None:
    """A ``bank_settlements`` row for each ``ok`` deduction, in the caller's transaction.

    Two runs on one day (an operator starting one again) ask the bank under the same
    references; on PostgreSQL the second can find them unrecorded, wait on the months the
    first is posting, replay them, and arrive here after the first committed. Its rows
    are then refused (``SettlementRecorded``, a rule's refusal: the worker's batch falls
    back to member by member, where each finds its reference recorded and stops).
    """
    if not results:
        return
    try:
        with savepoint(conn):  # none when optimistic: a refusal then spoils the whole batch
            bulk_insert(
                conn,
                bank_settlements,
                SETTLEMENT_COLUMNS,
                [
                    (
                        r.reference,
                        r.member_id,
                        r.scheme,
                        r.bank_ref,
                        r.settled_fen,
                        r.amount_fen,
                        now,
                    )
                    for r in results
                ],
            )
    except IntegrityError as error:
        raise SettlementRecorded(
            "a deduction under the same reference was recorded meanwhile by another run"
        ) from error


def record_gaps(
    ledger: Ledger, conn: Connection, member_id: str, scheme: Scheme, year: int, today: date
) -> list[RecordedEntry]:
    """Record the member's months of ``year`` that can no longer be paid on ``today`` as gaps."""
    return ledger.recorder.append(conn, _plan(ledger, conn, member_id, scheme, year, today).gaps)


def close_year(
    ledger: Ledger, conn: Connection, scheme: Scheme, year: int, today: date
) -> list[RecordedEntry]:
    """Record the gaps of every member enrolled in ``scheme`` during ``year``, once it has
    ended (``plan_year``: any method)."""
    if today <= date(year, 12, 31):
        raise BadInput("year", f"{year} has not ended on {today}: its months may still be paid")
    recorded: list[RecordedEntry] = []
    for member_id in enrolled_members(conn, scheme, year):
        recorded.extend(record_gaps(ledger, conn, member_id, scheme, year, today))
    return recorded


def bank_members(conn: Connection, scheme: Scheme, year: int) -> list[str]:
    """Members with a ``bank`` enrolment in ``scheme`` in force some month of ``year``."""
    return enrolled_members(conn, scheme, year, method="bank")


def bank_members_in(
    conn: Connection, scheme: Scheme, month: Month, regions: Collection[str]
) -> list[str]:
    """Members whose ``scheme`` enrolment in force in ``month`` is a ``bank`` one in one of
    ``regions``, sorted: a month-by-month region's own run for the month."""
    held = enrolment_index.snapshot(conn)
    if held is not None:
        by_member = (
            (m, found) for (m, value), found in held.by_key.items() if value == scheme.value
        )
    else:
        grouped: defaultdict[str, list[Enrolment]] = defaultdict(list)
        for row in conn.execute(
            select(enrolments)
            .where(enrolments.c.scheme == scheme.value, enrolments.c.from_month <= str(month))
            .order_by(enrolments.c.member_id, enrolments.c.from_month, enrolments.c.id)
        ):
            grouped[row.member_id].append(enrolment_from_row(row))
        by_member = iter(grouped.items())
    return sorted(
        m
        for m, found in by_member
        if (e := Ledger.enrolment_for(found, month)) is not None
        and e.method == "bank"
        and e.region in regions
    )


def enrolled_members(
    conn: Connection, scheme: Scheme, year: int, method: str | None = None
) -> list[str]:
    """Members with an enrolment in ``scheme`` (paid by ``method``, if given) in force some
    month of ``year``, sorted."""
    held = enrolment_index.snapshot(conn)
    if held is not None:
        return sorted(
            member_id
            for (member_id, value), found in held.by_key.items()
            if value == scheme.value
            and (method is None or any(e.method == method for e in found))
            and _enrolled_in(found, year, method)
        )
    query = select(enrolments).where(enrolments.c.scheme == scheme.value)
    if method is not None:
        with_method = select(enrolments.c.member_id).where(
            enrolments.c.method == method, enrolments.c.scheme == scheme.value
        )
        query = query.where(enrolments.c.member_id.in_(with_method))
    by_member: defaultdict[str, list[Enrolment]] = defaultdict(list)
    for row in conn.execute(
        query.where(enrolments.c.from_month <= f"{year}-12").order_by(
            enrolments.c.member_id, enrolments.c.from_month, enrolments.c.id
        )
    ).all():
        by_member[row.member_id].append(enrolment_from_row(row))
    return sorted(m for m, found in by_member.items() if _enrolled_in(found, year, method))


def _enrolled_in(found: Sequence[Enrolment], year: int, method: str | None) -> bool:
    for month in Month(year, 1).until(Month(year, 12)):
        enrolment = Ledger.enrolment_for(found, month)
        if enrolment is not None and (method is None or enrolment.method == method):
            return True
    return False
