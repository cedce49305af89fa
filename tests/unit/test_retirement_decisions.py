"""Retirements, decided on hand-built facts: no database.

Every refusal of ``ledger.operations.retirements.decide``, awarding and recording a choice
short of the minimum months, in its order of precedence (docs/DOMAIN.md §6; NPC decision
2024-09-13 for the minimum months of the year the statutory age was reached), and what a
refund writes."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from ledger.domain.clock import FixedClock
from ledger.domain.errors import (
    AlreadyRecorded,
    BadInput,
    InvalidCitizenId,
    NotRetired,
    ShortOfMinimum,
    UnknownMember,
)
from ledger.domain.identity import check_character
from ledger.domain.members import Enrolment, Member
from ledger.domain.period import Month
from ledger.domain.rules.benefit import PaidBase
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.rules.pension import minimum_months
from ledger.domain.rules.transfer import PaidMonth
from ledger.operations.pensions import AwardRow, statutory
from ledger.operations.retirement_facts import Event, Facts
from ledger.operations.retirements import decide
from ledger.operations.services import Ledger

MEMBER = "11010519650301001" + check_character("11010519650301001")
BEIJING, SHANGHAI = "110000", "310000"
LEDGER = Ledger(None, FixedClock(datetime(2026, 12, 1, 9, tzinfo=UTC)))  # type: ignore[arg-type]
PERSON = Member(MEMBER, BEIJING, BEIJING, "male", date(1965, 3, 1))
REACHED = statutory(LEDGER, PERSON, date(2026, 12, 1)).date
ON = REACHED + timedelta(days=10)
ENROLLED = Enrolment(
    id=1,
    member_id=MEMBER,
    scheme="pension",  # type: ignore[arg-type]
    region=BEIJING,
    choice=BaseChoice(Decimal("60"), None, None),
    method="monthly",
    agency=None,
    from_month=Month(2015, 1),
    to_month=None,
    signed_on=None,
)
SHORT_PAID = tuple(PaidBase(Month(2023, 1) + i, BEIJING, 700_000) for i in range(24))
FACTS = Facts(
    today=date(2026, 12, 1),
    members={MEMBER: PERSON},
    awards={},
    events={},
    paid={MEMBER: SHORT_PAID},
    places={MEMBER: BEIJING},
    held_on={(MEMBER, ON): 400_000},
    held={MEMBER: 400_000},
    enrolments={MEMBER: [ENROLLED]},
    temporary_paid={},
)
AWARDED = AwardRow(MEMBER, BEIJING, ON, Month.of(ON), 1, 1, 2, 180, Fraction(1), False)


def one(facts=FACTS, member=MEMBER, on=ON, category=None, short=None, award=True):
    [decision] = decide(LEDGER, facts, [(member, on, category)], short, award)
    return decision


def test_award_refusals_come_in_their_order_of_precedence():
    """Broken every way, each rule mended in turn: the refusal names the next rule."""
    early, bad = REACHED - timedelta(days=1), "female-55"
    events = {
        (MEMBER, "death"): Event(REACHED, None),
        (MEMBER, "short-of-minimum"): Event(REACHED, "refund"),
    }
    broken = replace(
        FACTS,
        members={},
        awards={MEMBER: replace(AWARDED, retired_on=REACHED)},
        events=events,
        paid={},
    )
    known = replace(broken, members=FACTS.members)
    unawarded = replace(known, awards={})
    alive = replace(
        unawarded, events={(MEMBER, "short-of-minimum"): events[MEMBER, "short-of-minimum"]}
    )
    open_ = replace(alive, events={})
    steps = [
        (broken, "not-a-number", early, bad, InvalidCitizenId, "member"),
        (broken, MEMBER, early, bad, UnknownMember, "member"),
        (known, MEMBER, early, bad, AlreadyRecorded, "on"),
        (unawarded, MEMBER, early, bad, BadInput, "member"),
        (alive, MEMBER, early, bad, AlreadyRecorded, "member"),
        (open_, MEMBER, early, bad, BadInput, "category"),
        (open_, MEMBER, early, None, NotRetired, "on"),
        (open_, MEMBER, ON, None, ShortOfMinimum, "member"),
        (FACTS, MEMBER, ON, None, ShortOfMinimum, "member"),
    ]
    for facts, member, on, category, kind, field in steps:
        refusal = one(facts, member, on, category).refused
        assert type(refusal) is kind and refusal.field == field, (kind, refusal)
    needed = minimum_months(REACHED.year, LEDGER.policy)
    assert f"24 months, {needed} needed" in str(one().refused)


def test_an_award_recorded_on_the_same_day_is_already_done():
    decision = one(replace(FACTS, awards={MEMBER: AWARDED}))
    assert decision.refused is None and decision.existing == AWARDED
    assert decision.award is None and decision.drafts == () and decision.outcome == "replayed"


def test_short_of_the_minimum_a_refund_ends_the_enrolment_and_refunds_the_account():
    """24 months, fewer than the minimum: the refund is recorded with the month before as
    the enrolment's last, and the 4,000 yuan in the personal account go to the member."""
    decision = one(short="refund")
    assert decision.refused is None and decision.outcome == "short-refund"
    assert decision.choice is not None and decision.choice[0] == "refund"
    assert decision.ends == (ENROLLED, Month.of(ON) - 1)
    [refund] = decision.drafts
    assert refund.idempotency_key == f"refund:pension:{MEMBER}"
    assert {p.account: p.amount_fen for p in refund.postings} == {
        f"personal:pension:{MEMBER}": 400_000,
        f"refunds:pension:{MEMBER}": -400_000,
    }


def test_pay_on_records_the_choice_and_writes_nothing_else():
    decision = one(short="pay-on", award=False)
    assert decision.choice is not None and decision.choice[0] == "pay-on"
    assert decision.ends is None and decision.drafts == ()


def test_short_choice_refusals_come_in_their_order_of_precedence():
    recorded = {(MEMBER, "short-of-minimum"): Event(ON, "refund")}
    steps = [
        (replace(FACTS, members={}), "maybe", ON, BadInput, "short"),
        (replace(FACTS, members={}), "refund", ON, UnknownMember, "member"),
        (FACTS, "refund", REACHED - timedelta(days=1), NotRetired, "on"),
        (replace(FACTS, awards={MEMBER: AWARDED}), "refund", ON, AlreadyRecorded, "short"),
        (
            replace(FACTS, events={(MEMBER, "death"): Event(ON, None)}),
            "refund",
            ON,
            BadInput,
            "member",
        ),
        (replace(FACTS, paid={MEMBER: SHORT_PAID * 20}), "refund", ON, BadInput, "short"),
        (replace(FACTS, events=recorded), "resident", ON, AlreadyRecorded, "choice"),
        (replace(FACTS, events=recorded), "refund", ON + timedelta(days=1), AlreadyRecorded, "on"),
    ]
    for facts, choice, on, kind, field in steps:
        refusal = one(facts, on=on, short=choice, award=False).refused
        assert type(refusal) is kind and refusal.field == field, (choice, refusal)
    again = one(replace(FACTS, events=recorded), short="refund", award=False)
    assert again.refused is None and again.choice is None and again.drafts == ()


def test_an_award_collects_twelve_percent_of_the_bases_paid_in_a_temporary_place():
    """66号 Art. 4 (2): 12% of the bases paid in Shanghai's temporary account (12 months
    × 10,000 yuan × 12% = 14,400 yuan) move into the paying region's pooling fund."""
    from ledger.operations.temporary import collection_drafts

    paid = {SHANGHAI: [PaidMonth(Month(2020, 1) + i, SHANGHAI, 1_000_000, 0) for i in range(12)]}
    [draft] = collection_drafts(LEDGER.policy, MEMBER, BEIJING, ON, paid)
    assert {p.account: p.amount_fen for p in draft.postings} == {
        "pooling:pension:310000": 1_440_000,
        "pooling:pension:110000": -1_440_000,
    }
    assert collection_drafts(LEDGER.policy, MEMBER, SHANGHAI, ON, paid) == []
