"""Deaths, decided on hand-built facts: no database.

Every refusal of ``ledger.operations.deaths.decide`` in its order of precedence, the
month of death still paid (docs/DOMAIN.md §6), and the heirs' entries of what the
personal accounts hold once it is paid (Social Insurance Law Art. 14)."""

from dataclasses import replace
from datetime import UTC, date, datetime

from ledger.domain.clock import FixedClock
from ledger.domain.errors import AlreadyRecorded, BadInput, InvalidCitizenId, UnknownMember
from ledger.domain.identity import check_character
from ledger.domain.members import Member
from ledger.domain.period import Month
from ledger.operations import pension_payments
from ledger.operations.deaths import Facts, decide
from ledger.operations.pension_payments import Awarded
from ledger.operations.services import Ledger

MEMBER = "11010519600101001" + check_character("11010519600101001")
BEIJING = "110000"
DIED = date(2025, 10, 20)
OCTOBER = Month(2025, 10)
LEDGER = Ledger(None, FixedClock(datetime(2025, 11, 1, 9, tzinfo=UTC)))  # type: ignore[arg-type]
HELD = 1_000_000  # 10,000 yuan left in the employee pension's personal account
RESIDENT_HELD = 30_000  # 300 yuan in the residents' account
# Retired 2025-01 (so no dated increase applies to 2025 yet): basic 2,000 yuan, personal
# account pension 500 yuan a month.
AWARD = Awarded(BEIJING, 200_000, 50_000, date(2025, 1, 1), Month(2025, 1))
PAYING = pension_payments.Facts(
    month=OCTOBER,
    paid=frozenset(),
    awards={(MEMBER, "pension"): AWARD},
    died={},
    personal_fen={(MEMBER, "pension"): HELD},
)
FACTS = Facts(
    today=date(2025, 11, 1),
    members={MEMBER: Member(MEMBER, BEIJING, BEIJING, "male", date(1960, 1, 1))},
    recorded={},
    payments={OCTOBER: PAYING},
    balances={
        f"personal:pension:{MEMBER}": -HELD,
        f"personal:resident-pension:{MEMBER}": -RESIDENT_HELD,
    },
    places={MEMBER: BEIJING},
)


def one(facts=FACTS, member=MEMBER, on=DIED):
    [decision] = decide(LEDGER.policy, facts, [(member, on)])
    return decision


def test_the_month_of_death_is_paid_and_the_heirs_get_what_the_accounts_hold_after_it():
    """Hand-computed: October's pension takes 500 yuan from the personal account, so the
    heirs get 10,000 − 500 = 9,500 yuan of it, and the residents' 300 yuan."""
    decision = one()
    assert decision.new and decision.refused is None
    paid, pension, resident = decision.drafts
    assert paid.idempotency_key == f"pension:2025-10:{MEMBER}"
    legs = {p.account: p.amount_fen for p in pension.postings}
    assert legs == {f"personal:pension:{MEMBER}": 950_000, f"heirs:pension:{MEMBER}": -950_000}
    assert pension.idempotency_key == f"inheritance:pension:{MEMBER}"
    assert {p.account: p.amount_fen for p in resident.postings} == {
        f"personal:resident-pension:{MEMBER}": RESIDENT_HELD,
        f"heirs:resident-pension:{MEMBER}": -RESIDENT_HELD,
    }


def test_a_month_of_death_paid_before_is_not_paid_again():
    paid = replace(PAYING, paid=frozenset({f"pension:2025-10:{MEMBER}"}))
    facts = replace(FACTS, payments={OCTOBER: paid}, balances={f"personal:pension:{MEMBER}": -HELD})
    [pension] = one(facts).drafts
    assert pension.kind.value == "inheritance"
    assert {p.account: p.amount_fen for p in pension.postings}[f"personal:pension:{MEMBER}"] == HELD


def test_empty_accounts_leave_nothing_to_the_heirs():
    facts = replace(FACTS, payments={OCTOBER: replace(PAYING, awards={})}, balances={})
    decision = one(facts)
    assert decision.new and decision.drafts == ()


def test_death_refusals_come_in_their_order_of_precedence():
    """Broken every way, each rule mended in turn: the refusal names the next rule."""
    unknown = replace(FACTS, members={}, recorded={MEMBER: date(2025, 9, 1)})
    recorded = replace(FACTS, recorded={MEMBER: date(2025, 9, 1)})
    steps = [
        (unknown, "not-a-number", date(2026, 1, 1), InvalidCitizenId, "member"),
        (unknown, MEMBER, date(2026, 1, 1), UnknownMember, "member"),
        (recorded, MEMBER, date(2026, 1, 1), BadInput, "on"),
        (recorded, MEMBER, date(1959, 12, 31), BadInput, "on"),
        (recorded, MEMBER, DIED, AlreadyRecorded, "on"),
    ]
    for facts, member, on, kind, field in steps:
        refusal = one(facts, member, on).refused
        assert type(refusal) is kind and refusal.field == field, (member, on, refusal)
    assert "future" in str(one(recorded, MEMBER, date(2026, 1, 1)).refused)
    assert "birth" in str(one(recorded, MEMBER, date(1959, 12, 31)).refused)


def test_a_death_recorded_on_the_same_day_is_already_done():
    decision = one(replace(FACTS, recorded={MEMBER: DIED}))
    assert not decision.new and decision.refused is None and decision.drafts == ()


def test_a_member_twice_in_one_batch_is_done_once_and_refused_on_another_day():
    first, again, other = decide(
        LEDGER.policy, FACTS, [(MEMBER, DIED), (MEMBER, DIED), (MEMBER, date(2025, 10, 21))]
    )
    assert first.new and len(first.drafts) == 3
    assert not again.new and again.drafts == () and again.refused is None
    assert isinstance(other.refused, AlreadyRecorded)
