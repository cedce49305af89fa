"""Late-base adjustments, decided on hand-built facts: no database.

Beijing published its 2025 pension base on 2025-09-18, effective 2025-07-01
(京人社发〔2025〕11号, docs/DOMAIN.md §2 and §8: floor 7,162, average wage 11,937); months
paid before then were assessed on the 2024 figures (floor 6,821, average wage 11,761).
Pension: 20% of the base, 8% to the personal account and 12% to the pooling fund
(国发〔2005〕38号)."""

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from ledger.domain.clock import FixedClock
from ledger.domain.identity import check_character
from ledger.domain.journal import EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.adjustments import Facts, LateWindow, decide
from ledger.operations.services import Ledger

BEIJING = "110000"
FLOORED = "11010519800101001" + check_character("11010519800101001")
AVERAGE = "11010519800101002" + check_character("11010519800101002")
JULY = "2025-07"
TODAY = date(2025, 10, 1)
POLICY = Ledger(None, FixedClock(datetime(2025, 10, 1, 9, tzinfo=UTC))).policy  # type: ignore[arg-type]
WINDOW = LateWindow(BEIJING, Month(2025, 7), date(2025, 9, 18), "京人社发〔2025〕11号")


def enrolment(member: str, choice: BaseChoice) -> Enrolment:
    return Enrolment(
        1, member, Scheme.PENSION, BEIJING, choice, "self", None, Month(2025, 1), None, None
    )


# A fixed base of 6,821 yuan (the 2024 floor) and 100% of the average wage.
ENROLMENTS = {
    (FLOORED, "pension"): [enrolment(FLOORED, BaseChoice(amount_fen=682_100))],
    (AVERAGE, "pension"): [enrolment(AVERAGE, BaseChoice(percent=Decimal(100)))],
}
# What July posted on the 2024 figures: credits are negative.
POSTED = {
    (FLOORED, "pension", JULY): {"personal": -54_568, "pooling": -81_852},  # 8%, 12% of 6,821
    (AVERAGE, "pension", JULY): {"personal": -94_088, "pooling": -141_132},  # of 11,761
}
FACTS = Facts(
    window=WINDOW,
    paid=[(FLOORED, "pension", JULY), (AVERAGE, "pension", JULY)],
    enrolments=ENROLMENTS,
    posted=POSTED,
    adjusted={},
)


def legs(decision) -> dict[str, int]:
    [draft] = decision.drafts
    return {p.account: p.amount_fen for p in draft.postings}


def test_a_fixed_base_below_the_new_floor_is_adjusted_up_to_the_floor():
    """6,821 is below the new floor 7,162: re-assessed at 7,162, the month owes
    20% × (7,162 − 6,821) = 68.20 yuan: 27.28 more to the personal account, 40.92 more
    to the pooling fund, charged to the member's arrears."""
    floored, _ = decide(POLICY, FACTS, TODAY)
    [draft] = floored.drafts
    assert draft.kind is EntryKind.ADJUSTMENT and draft.effective_date == TODAY
    assert draft.base_fen == 716_200 and draft.corrects is None
    assert draft.idempotency_key == f"adjustment:{JULY}:{FLOORED}:pension:1"
    assert legs(floored) == {
        f"arrears:pension:{FLOORED}": 6_820,
        f"personal:pension:{FLOORED}": -2_728,
        "pooling:pension:110000": -4_092,
    }
    assert "京人社发〔2025〕11号" in draft.reason and "7162.00" in draft.reason


def test_a_percent_base_follows_the_new_average_wage():
    """100% of 11,937 against 100% of 11,761: 20% × 176 = 35.20 yuan, 14.08 personal and
    21.12 pooling."""
    _, average = decide(POLICY, FACTS, TODAY)
    assert legs(average) == {
        f"arrears:pension:{AVERAGE}": 3_520,
        f"personal:pension:{AVERAGE}": -1_408,
        "pooling:pension:110000": -2_112,
    }


def test_a_month_whose_postings_already_match_is_already_done():
    adjusted = {
        **POSTED,
        (FLOORED, "pension", JULY): {"personal": -57_296, "pooling": -85_944},
    }
    floored, average = decide(POLICY, replace(FACTS, posted=adjusted), TODAY)
    assert floored.drafts == () and len(average.drafts) == 1


def test_a_month_adjusted_before_and_then_corrected_gets_the_next_adjustment_number():
    facts = replace(FACTS, adjusted={(FLOORED, "pension", JULY): 1})
    floored, average = decide(POLICY, facts, TODAY)
    assert floored.drafts[0].idempotency_key == f"adjustment:{JULY}:{FLOORED}:pension:2"
    assert average.drafts[0].idempotency_key == f"adjustment:{JULY}:{AVERAGE}:pension:1"


def test_a_month_outside_every_enrolment_is_left_alone():
    later = replace(ENROLMENTS[(FLOORED, "pension")][0], from_month=Month(2025, 8))
    facts = replace(FACTS, enrolments={**ENROLMENTS, (FLOORED, "pension"): [later]})
    floored, average = decide(POLICY, facts, TODAY)
    assert floored.drafts == () and len(average.drafts) == 1


def test_decisions_follow_the_paid_months_in_order():
    facts = replace(FACTS, paid=list(reversed(FACTS.paid)))
    assert [d.item for d in decide(POLICY, facts, TODAY)] == list(reversed(FACTS.paid))
