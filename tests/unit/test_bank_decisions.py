"""A member's year and a bank's answer, decided on hand-built facts: no database.

``ledger.operations.yearplan.plan``: the bank months due from the agreement's first
month, the gaps of every method once the back-payment window has closed, the months
left out (paid, recorded as gaps, moved with a transfer), and its refusals in their
order of precedence (a scheme paid yearly, then an unregistered member).
``ledger.operations.withholding.charge`` and ``settle``: one bank call for the months
due, and what an ``ok`` records (the months, an overpayment, or a short settlement
refused)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ledger.domain.clock import FixedClock
from ledger.domain.errors import BadInput, SettlementShort, UnknownMember
from ledger.domain.journal import EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.bank import BankOutcome, BankResult, reference_for
from ledger.operations.services import Ledger
from ledger.operations.withholding import DeductionResult, charge, settle
from ledger.operations.yearplan import Facts, Plan, plan
from ledger.store.queries import Departure

PENSION = Scheme.PENSION
MEMBER = "110105199001010011"
BEIJING = "110000"
LEDGER = Ledger(None, FixedClock(datetime(2026, 1, 10, 12, tzinfo=UTC)))  # type: ignore[arg-type]
JUNE_RUN = date(2025, 6, 25)
JANUARY = Month(2025, 1)


def enrolment(method="bank", since=JANUARY, signed_on=None, region=BEIJING):
    return Enrolment(
        id=1,
        member_id=MEMBER,
        scheme=PENSION,
        region=region,
        choice=BaseChoice(Decimal("60"), None, None),
        method=method,
        agency=None,
        from_month=since,
        to_month=None,
        signed_on=signed_on,
    )


def facts(*enrolled, paid=(), gapped=(), departed=None, unknown=()):
    return Facts(
        enrolments={MEMBER: list(enrolled)} if enrolled else {},
        paid={MEMBER: set(paid)},
        departed={MEMBER: departed} if departed else {},
        unknown=frozenset(unknown),
        gapped={MEMBER: set(gapped)},
    )


def months(drafts):
    return [d.period for d in drafts]


def collected(drafts):
    return sum(
        p.amount_fen for d in drafts for p in d.postings if p.account.startswith("collection:")
    )


def test_a_beijing_bank_month_at_the_floor_is_due_for_1432_40():
    """DOMAIN.md §2 (official): Beijing's 2025 floor base 7,162 × 20% = 1,432.40 yuan a
    month; a run on 25 July for a member withheld from July asks the bank for that."""
    due = plan(
        LEDGER, facts(enrolment(since=Month(2025, 7))), MEMBER, PENSION, 2025, date(2025, 7, 25)
    )
    assert months(due.due) == ["2025-07"]
    assert collected(due.due) == 143_240
    assert due.gaps == () and due.region == BEIJING


def test_an_agreement_signed_in_march_makes_april_the_first_month_due():
    """DOMAIN.md §9: an agreement takes effect the month after signing (Nanjing tax
    bureau); January to March are the member's own to pay, and not gaps while open."""
    signed = enrolment(signed_on=date(2025, 3, 10))
    due = plan(LEDGER, facts(signed), MEMBER, PENSION, 2025, JUNE_RUN)
    assert months(due.due) == ["2025-04", "2025-05", "2025-06"]
    assert due.gaps == ()


def test_months_paid_or_recorded_as_gaps_are_left_out():
    known = facts(enrolment(), paid=["2025-01", "2025-03"], gapped=["2025-02"])
    due = plan(LEDGER, known, MEMBER, PENSION, 2025, JUNE_RUN)
    assert months(due.due) == ["2025-04", "2025-05", "2025-06"]


def test_a_closed_year_makes_every_unpaid_month_a_gap_whatever_the_method():
    """DOMAIN.md §2: a month of year Y cannot be paid after Y; a member paying monthly
    who never paid is as much a gap as a bank month the bank could not collect."""
    for method in ("bank", "self"):
        known = facts(enrolment(method=method, since=Month(2025, 7)), paid=["2025-08"])
        year = plan(LEDGER, known, MEMBER, PENSION, 2025, date(2026, 1, 10))
        assert year.due == ()
        assert months(year.gaps) == ["2025-07", *[f"2025-{m:02d}" for m in range(9, 13)]]
    gap = year.gaps[0]
    assert gap.kind is EntryKind.ARREARS
    assert gap.idempotency_key == f"gap:2025-07:{MEMBER}:pension"
    assert gap.effective_date == date(2025, 12, 31)
    legs = {p.account: p.amount_fen for p in gap.postings}
    assert legs == {f"arrears:pension:{MEMBER}": 143_240, f"gaps:pension:{BEIJING}": -143_240}


def test_months_in_a_region_the_insurance_moved_out_of_are_neither_due_nor_gaps():
    """国办发〔2009〕66号: the relationship at the source ended with the transfer."""
    gone = {BEIJING: Departure(BEIJING, date(2025, 3, 1), "440100", "T-1")}
    known = facts(enrolment(), departed=gone)
    assert plan(LEDGER, known, MEMBER, PENSION, 2025, date(2026, 1, 10)) == Plan(region=BEIJING)


def test_a_year_not_begun_has_nothing_yet():
    assert plan(LEDGER, facts(enrolment()), MEMBER, PENSION, 2026, JUNE_RUN) == Plan()


def test_a_registered_member_with_no_enrolment_has_nothing_due():
    assert plan(LEDGER, facts(), MEMBER, PENSION, 2025, JUNE_RUN) == Plan()


@pytest.mark.parametrize(
    ("scheme", "unknown", "refused"),
    [
        (Scheme.RESIDENT_PENSION, [MEMBER], BadInput),  # 1. the scheme, before the member
        (PENSION, [MEMBER], UnknownMember),  # 2. the member
    ],
)
def test_the_refusals_come_in_their_order_of_precedence(scheme, unknown, refused):
    with pytest.raises(refused) as caught:
        plan(LEDGER, facts(unknown=unknown), MEMBER, scheme, 2025, JUNE_RUN)
    if refused is BadInput:
        assert caught.value.field == "scheme"


class OneCallBank:
    def __init__(self, answer: BankResult | None = None) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, int]] = []
        self.asked: list[str] = []

    def deduct(self, reference: str, member_id: str, amount_fen: int) -> BankResult:
        self.calls.append((reference, member_id, amount_fen))
        return self.answer or BankResult(BankOutcome.OK, "REF-1", amount_fen)

    def first_result(self, reference: str) -> BankResult | None:
        self.asked.append(reference)
        return self.answer


def due_april_to_june():
    return plan(LEDGER, facts(enrolment(since=Month(2025, 4))), MEMBER, PENSION, 2025, JUNE_RUN)


def test_the_months_due_are_asked_for_in_one_call_under_the_runs_reference():
    due, bank = due_april_to_june(), OneCallBank()
    result = charge(MEMBER, PENSION, 2025, due, bank, JUNE_RUN)
    assert bank.calls == [
        (reference_for(MEMBER, PENSION, 2025, JUNE_RUN), MEMBER, collected(due.due))
    ]
    assert result.outcome is BankOutcome.OK
    assert result.months == ("2025-04", "2025-05", "2025-06")
    assert settle(result, due, JUNE_RUN) == due.due


def test_with_nothing_due_the_bank_is_only_asked_what_it_took_before():
    bank = OneCallBank()
    result = charge(MEMBER, PENSION, 2025, Plan(), bank, JUNE_RUN)
    assert bank.calls == [] and bank.asked == [reference_for(MEMBER, PENSION, 2025, JUNE_RUN)]
    assert result == DeductionResult(MEMBER, "pension", 2025)


def test_a_bank_that_took_more_than_the_months_due_owes_the_rest_back():
    due = due_april_to_june()
    took = collected(due.due) + 50_000
    result = charge(
        MEMBER, PENSION, 2025, due, OneCallBank(BankResult(BankOutcome.OK, "R", took)), JUNE_RUN
    )
    *months_due, extra = settle(result, due, JUNE_RUN)
    assert tuple(months_due) == due.due
    assert extra.kind is EntryKind.OVERPAYMENT
    assert {p.account: p.amount_fen for p in extra.postings} == {
        f"collection:pension:{BEIJING}": 50_000,
        f"refunds:pension:{MEMBER}": -50_000,
    }


def test_a_bank_that_took_less_than_the_months_due_is_refused_naming_both_amounts():
    due = due_april_to_june()
    result = charge(
        MEMBER, PENSION, 2025, due, OneCallBank(BankResult(BankOutcome.OK, "R", 100)), JUNE_RUN
    )
    with pytest.raises(SettlementShort, match=rf"for 100 fen.*cost {collected(due.due)} fen"):
        settle(result, due, JUNE_RUN)
