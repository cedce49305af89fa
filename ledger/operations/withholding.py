"""Bank withholding (委托银行代扣, DOMAIN.md §9): one path for one member and for thousands.

A run pulls, in ONE deduction per member, every month of the year from the withholding
agreement's first month up to today's month that is still unpaid (Hengyang: a shortfall
fails the whole batch; its months stay unpaid and roll into the next run). It is load →
decide → append: ``yearplan.load`` and ``yearplan.plan`` find each member's months due
and gaps with no I/O, the bank is asked once per member (outside the decider: its answer
is the world's, not a rule), ``settle`` decides what an ``ok`` records, and everything
goes in one append. ``deduct_member_year`` is a batch of one.

Invariants and idempotency:
- a month is posted only after the bank said ``ok`` for a deduction covering it, as one
  ``contribution`` entry paid on the run's day;
- a retry of the same run sends the same reference (``bank.reference_for``), answered
  with the first result: never charged twice. A deduction settled ``ok`` is recorded in
  the same transaction as its months: the contributions, a ``bank_settlements`` row, and,
  if the bank collected more than the months still due cost (the first attempt's commit
  was lost and the member paid a month otherwise before the retry), an ``overpayment``
  entry for the rest, owed back (debit the collection account, credit
  ``refunds:<scheme>:<member>``). A reference found in ``bank_settlements`` is not asked
  again; with nothing left due, the bank is still asked (``first_result``) whether it took
  money under the reference;
- a write refused by the database (a month or a settlement recorded meanwhile by another
  worker) raises ``WriteRaced``: the message is rolled back and done again on fresh facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from ledger.domain import keys
from ledger.domain.accounts import collection, refunds
from ledger.domain.errors import LedgerError, SettlementShort, WriteRaced
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.schemes import Scheme
from ledger.operations.bank import BankGateway, BankOutcome, reference_for
from ledger.operations.services import Ledger
from ledger.operations.yearplan import Plan, load, plan
from ledger.store.bulk import bulk_insert
from ledger.store.recorder import RecordedEntry
from ledger.store.tables import bank_settlements

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


@dataclass(frozen=True, slots=True)
class DeductionResult:
    """One member's run: the deduction tried (if any months were due) and what was posted.

    ``outcome`` is None when nothing was due; ``months`` are the months the deduction
    covered; ``posted`` and ``gaps`` hold only entries written by this run; ``refused``
    is the rule that refused the member (nothing of theirs is written).
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
    refused: LedgerError | None = field(default=None, compare=False)

    @property
    def created(self) -> int:
        """Entries this run wrote for the member."""
        return len(self.posted) + len(self.gaps)


def charge(
    member_id: str, scheme: Scheme, year: int, due: Plan, bank: BankGateway, today: date
) -> DeductionResult:
    """Ask the bank for the plan's due months in one call; nothing is recorded here. The
    reference names the run, so asking again is answered with the first result. With
    nothing due, the bank is only asked what it collected under the reference before (a
    first attempt whose commit was lost): ``ok`` with ``settled_fen`` if it did."""
    reference = reference_for(member_id, scheme, year, today)
    if not due.due:
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
            settled_fen=first.amount_fen,
        )
    months = tuple(d.period or "" for d in due.due)
    amount_fen = sum(
        p.amount_fen for d in due.due for p in d.postings if p.account.startswith("collection:")
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


def settle(result: DeductionResult, due: Plan, today: date) -> tuple[EntryDraft, ...]:
    """What an ``ok`` deduction records, with no I/O: the months due, and an overpayment
    for whatever the bank collected beyond them. Refuses (``SettlementShort``) a bank that
    collected less than the months cost: posting them would record money never received."""
    extra = result.settled_fen - result.amount_fen
    if extra < 0:
        raise SettlementShort(
            f"bank {result.bank_ref} settled {result.reference} for {result.settled_fen} fen, "
            f"but the months due ({', '.join(result.months)}) cost {result.amount_fen} fen: "
            "nothing posted; run the deduction again another day"
        )
    if not extra:
        return due.due
    if due.region is None:
        raise SettlementShort(f"{result.member_id} has no enrolment to refund {extra} fen to")
    return (
        *due.due,
        EntryDraft.build(
            kind=EntryKind.OVERPAYMENT,
            effective_date=today,
            idempotency_key=keys.overpayment(result.reference or ""),
            reason=f"bank {result.bank_ref} collected {result.settled_fen} fen under "
            f"{result.reference}; the months still due cost {result.amount_fen} fen: "
            f"{extra} fen was for months paid otherwise meanwhile, owed back to the member",
            member_id=result.member_id,
            scheme=result.scheme,
            region=due.region,
            postings=[
                (collection(result.scheme, due.region), extra),
                (refunds(result.scheme, result.member_id), -extra),
            ],
        ),
    )


def deduct(
    ledger: Ledger,
    conn: Connection,
    member_ids: Sequence[str],
    scheme: Scheme,
    year: int,
    bank: BankGateway,
    today: date,
    call: Callable[[Callable[[], DeductionResult]], DeductionResult] = lambda ask: ask(),
) -> list[DeductionResult]:
    """Deduct each member's unpaid months of ``year`` up to today's month, one bank call
    each, and record what the bank settled: one result per member, in order.

    On ``ok`` the months are posted as contributions paid ``today`` (with an overpayment
    for whatever else the bank collected under the reference, and the settlement row); on
    insufficient funds or a closed account nothing is posted (the months roll into the
    next run). Months whose window has closed are recorded as gaps, not charged. A
    reference recorded already is not asked again. ``call`` wraps each bank call (the
    worker retries a timeout there; one that persists raises ``BankUnavailable`` and,
    inside the caller's transaction, leaves nothing written).
    """
    facts = load(conn, member_ids, scheme, year, today)
    references = {m: reference_for(m, scheme, year, today) for m in member_ids}
    settled = recorded_settlements(conn, references.values())
    cache: dict = {}
    results: list[DeductionResult] = []
    drafts: list[tuple[EntryDraft, ...]] = []
    for member in member_ids:
        try:
            due = plan(ledger, facts, member, scheme, year, today, cache)
            if references[member] in settled:
                result = DeductionResult(member, scheme.value, year)
            else:
                result = call(lambda d=due, m=member: charge(m, scheme, year, d, bank, today))
            settled = settle(result, due, today) if result.outcome is BankOutcome.OK else ()
        except LedgerError as refusal:
            results.append(DeductionResult(member, scheme.value, year, refused=refusal))
            drafts.append(())
        else:
            results.append(result)
            drafts.append(due.gaps + settled)
    written = iter(ledger.recorder.append(conn, [d for one in drafts for d in one]))
    done = []
    for result, mine in zip(results, drafts, strict=True):
        entries = [next(written) for _ in mine]
        gaps = tuple(e for e in entries if e.draft.kind is EntryKind.ARREARS)
        posted = tuple(e for e in entries if e.draft.kind is not EntryKind.ARREARS)
        done.append(replace(result, posted=posted, gaps=gaps))
    record_settlements(conn, [r for r in done if r.outcome is BankOutcome.OK], ledger.clock.now())
    return done


def deduct_member_year(
    ledger: Ledger,
    conn: Connection,
    member_id: str,
    scheme: Scheme,
    year: int,
    bank: BankGateway,
    today: date,
) -> DeductionResult:
    """``deduct`` for one member; a refusal is raised."""
    [result] = deduct(ledger, conn, [member_id], scheme, year, bank, today)
    if result.refused is not None:
        raise result.refused
    return result


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
    references; on PostgreSQL the second can find them unrecorded and arrive here after
    the first committed. Its rows are then refused: ``WriteRaced``, and the message done
    again finds the references recorded and asks the bank no more.
    """
    if not results:
        return
    try:
        bulk_insert(
            conn,
            bank_settlements,
            SETTLEMENT_COLUMNS,
            [
                (r.reference, r.member_id, r.scheme, r.bank_ref, r.settled_fen, r.amount_fen, now)
                for r in results
            ],
        )
    except IntegrityError as error:
        raise WriteRaced(
            "a deduction under the same reference was recorded meanwhile by another run"
        ) from error
