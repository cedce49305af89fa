"""Paying months, decided on hand-built facts: no database.

Every refusal reason of ``ledger.operations.payments.decide``, and its order of
precedence: registered, the span, month by month (enrolment, transfer, payment window
and rhythm), insurance not ended, then recorded before under other content."""

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ledger.domain.clock import FixedClock
from ledger.domain.errors import (
    BackPaymentWindowClosed,
    BadInput,
    MonthAlreadyPaid,
    MonthMovedWithTransfer,
    NotEnrolled,
    PaidOutsideItsMonth,
    UnknownMember,
)
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.payments import Ended, Facts, decide
from ledger.operations.services import Ledger
from ledger.store.queries import Departure

PENSION, MEDICAL = Scheme.PENSION, Scheme.MEDICAL
MEMBER = "110105199001010011"
ITEM = (MEMBER, PENSION)
PAID_ON = date(2025, 12, 10)
LEDGER = Ledger(None, FixedClock(datetime(2025, 12, 10, 12, tzinfo=UTC)))  # type: ignore[arg-type]
JULY = Month(2025, 7)
SINCE = Month(2024, 1)


def enrolment(region="110000", scheme=PENSION, since=SINCE):
    return Enrolment(
        id=1,
        member_id=MEMBER,
        scheme=scheme,
        region=region,
        choice=BaseChoice(Decimal("60"), None, None),
        method="self",
        agency=None,
        from_month=since,
        to_month=None,
        signed_on=None,
    )


def facts(*enrolled, departed=None, ended=None, unknown=()):
    return Facts(
        enrolments={(MEMBER, e.scheme): [e] for e in enrolled},
        departed={ITEM: departed} if departed else {},
        ended={MEMBER: ended} if ended else {},
        unknown=frozenset(unknown),
    )


def one(known, first=JULY, last=JULY, paid_on=PAID_ON, item=ITEM):
    [decision] = decide(LEDGER, known, [item], first, last, paid_on)
    return decision


def refusal(known, **span):
    refused = one(known, **span).refused
    assert refused is not None
    return refused


GONE = Departure("110000", date(2025, 3, 1), "440100", "T-1")
ENDED = Ended(date(2025, 11, 1), "refund")


def test_a_beijing_month_at_the_floor_is_1432_40_split_572_96_and_859_44():
    """DOMAIN.md §2 (official): Beijing floor 7,162 × 20% = 1,432.40, personal 572.96,
    pooling 859.44 (京人社发〔2025〕11号)."""
    decision = one(facts(enrolment()))
    assert decision.refused is None
    [draft] = decision.drafts
    assert draft.idempotency_key == f"contribution:2025-07:{MEMBER}:pension"
    assert {p.account: p.amount_fen for p in draft.postings} == {
        "collection:pension:110000": 143_240,
        f"personal:pension:{MEMBER}": -57_296,
        "pooling:pension:110000": -85_944,
    }


def test_a_member_not_registered_is_refused():
    assert isinstance(refusal(facts(unknown=[MEMBER])), UnknownMember)


def test_an_ended_insurance_takes_no_month_not_even_an_earlier_one():
    refused = refusal(facts(enrolment(), ended=ENDED))
    assert isinstance(refused, BadInput) and refused.field == "paid_on"
    assert "ended on 2025-11-01" in str(refused)


def test_a_month_paid_before_the_insurance_ended_is_paid():
    assert one(facts(enrolment(), ended=ENDED), paid_on=date(2025, 10, 20)).refused is None


def test_an_ended_employee_pension_leaves_the_medical_insurance_payable():
    known = facts(enrolment(), enrolment(scheme=MEDICAL), ended=ENDED)
    assert one(known, item=(MEMBER, MEDICAL)).refused is None


@pytest.mark.parametrize(
    ("span", "field"),
    [
        ({"first": JULY, "last": Month(2025, 6)}, "to"),
        ({"paid_on": date(2025, 12, 11)}, "paid_on"),
    ],
)
def test_a_span_that_ends_before_it_starts_or_is_paid_in_the_future_is_refused(span, field):
    refused = refusal(facts(enrolment()), **span)
    assert isinstance(refused, BadInput) and refused.field == field


def test_a_month_outside_every_enrolment_is_refused():
    assert isinstance(refusal(facts(enrolment(since=Month(2025, 8)))), NotEnrolled)


def test_a_month_in_a_region_the_insurance_was_transferred_out_of_is_refused():
    assert isinstance(
        refusal(facts(enrolment(), departed={"110000": GONE})), MonthMovedWithTransfer
    )


def test_a_month_of_a_closed_year_is_refused():
    """DOMAIN.md §2: missed months are payable within the calendar year, not after."""
    refused = refusal(facts(enrolment()), first=Month(2024, 7), last=Month(2024, 7))
    assert isinstance(refused, BackPaymentWindowClosed)


def test_a_shanghai_month_paid_in_another_month_is_refused():
    """DOMAIN.md §2: Shanghai takes flexible employees' months one by one (沪人社规〔2023〕5号)."""
    assert isinstance(refusal(facts(enrolment("310000"))), PaidOutsideItsMonth)


def test_a_replay_is_already_done_and_other_content_under_the_key_is_refused():
    known = facts(enrolment())
    [draft] = one(known).drafts
    again = one(replace(known, recorded={draft.idempotency_key: draft.fingerprint()}))
    assert (again.refused, again.drafts) == (None, (draft,))
    other = replace(known, recorded={draft.idempotency_key: "another day's content"})
    assert isinstance(refusal(other), MonthAlreadyPaid)


def test_the_first_rule_that_fails_refuses_in_the_order_of_precedence():
    """Each pair fails two rules; the earlier one in the documented order is named."""
    recorded_july = {f"contribution:2025-07:{MEMBER}:pension": "other"}
    closed = {"first": Month(2024, 7), "last": Month(2024, 7)}
    pairs = [
        (facts(enrolment(), unknown=[MEMBER]), {"last": Month(2025, 6)}, UnknownMember),
        (facts(enrolment(since=Month(2025, 8))), {"last": Month(2025, 6)}, BadInput),
        (facts(enrolment(since=Month(2025, 8)), departed={"110000": GONE}), {}, NotEnrolled),
        (facts(enrolment(), departed={"110000": GONE}), closed, MonthMovedWithTransfer),
        (facts(enrolment(), ended=ENDED), closed, BackPaymentWindowClosed),
        (replace(facts(enrolment(), ended=ENDED), recorded=recorded_july), {}, BadInput),
    ]
    named = [type(refusal(known, **span)) for known, span, _ in pairs]
    assert named == [expected for _, _, expected in pairs]
    assert refusal(pairs[1][0], **pairs[1][1]).field == "to"
    assert "ended on" in str(refusal(pairs[5][0]))


def test_the_first_month_that_fails_names_the_refusal():
    """Paying 2024-12..2025-02 with an enrolment from 2025-01: December is outside it,
    though it is also in a closed year."""
    known = facts(enrolment(since=Month(2025, 1)))
    refused = refusal(known, first=Month(2024, 12), last=Month(2025, 2))
    assert isinstance(refused, NotEnrolled) and "2024-12" in str(refused)


def test_each_item_of_a_batch_is_decided_on_its_own():
    other = "110105199001010038"
    known = replace(facts(enrolment()), unknown=frozenset({other}))
    decisions = decide(LEDGER, known, [(other, PENSION), ITEM], JULY, JULY, PAID_ON)
    assert [type(d.refused) for d in decisions] == [UnknownMember, type(None)]
    assert len(decisions[1].drafts) == 1
