"""Transfers, decided on hand-built facts: no database.

Every refusal reason of ``ledger.operations.transfers.decide_requests``,
``decide_accepts`` and ``decide_returns`` in its order of precedence: each test starts
from a request that breaks every rule and mends them one at a time, the refusal naming
the next rule each time (docs/DOMAIN.md §5, 国办发〔2009〕66号)."""

from dataclasses import replace
from datetime import UTC, date, datetime
from fractions import Fraction

from ledger.domain import keys
from ledger.domain.clock import FixedClock
from ledger.domain.errors import (
    BadInput,
    BaseOutsideRange,
    LedgerError,
    NotEnrolled,
    TransferStateError,
    UnknownMember,
    UnknownRegion,
)
from ledger.domain.identity import check_character
from ledger.domain.members import Enrolment
from ledger.domain.money import round_half_up
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.rules.transfer import PaidMonth
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.operations.temporary import Mover
from ledger.operations.transfer_facts import RequestFacts, StepFacts
from ledger.operations.transfer_journal import Transfer, TransferStatus
from ledger.operations.transfers import decide_accepts, decide_requests, decide_returns

PENSION, MEDICAL = Scheme.PENSION, Scheme.MEDICAL
MEMBER = "11010519941231002" + check_character("11010519941231002")
BEIJING, SHANGHAI, TIANJIN = "110000", "310000", "120000"
ITEM = (MEMBER, PENSION)
TODAY, LEFT, ARRIVED = date(2025, 8, 1), date(2025, 7, 10), date(2025, 7, 20)
LEDGER = Ledger(None, FixedClock(datetime(2025, 8, 1, 9, tzinfo=UTC)))  # type: ignore[arg-type]
BASE = 1_000_000  # 10,000 yuan a month: inside Beijing's and Shanghai's 2024 and 2025 ranges
PAID = tuple(PaidMonth(Month(2025, m), BEIJING, BASE, 160_000) for m in range(1, 7))
HELD = 480_000  # 8% of six months' bases in the personal account (credit: negative)


SINCE = Month(2024, 1)


def enrolment(region=BEIJING, scheme=PENSION, base_fen=BASE, since=SINCE):
    return Enrolment(
        id=1,
        member_id=MEMBER,
        scheme=scheme,
        region=region,
        choice=BaseChoice(None, base_fen, None),
        method="monthly",
        agency=None,
        from_month=since,
        to_month=None,
        signed_on=None,
    )


def moved(to=SHANGHAI, on=LEFT, status=TransferStatus.OUT, scheme=PENSION) -> Transfer:
    return Transfer(
        transfer_id=keys.transfer_id(MEMBER, scheme, to, on),
        member_id=MEMBER,
        scheme=scheme,
        from_region=BEIJING,
        to_region=to,
        on=on,
        status=status,
        personal_fen=HELD,
        pooling_fen=720_000,
        out_entry_id=7,
    )


SOUND = RequestFacts(
    today=TODAY,
    known=frozenset({MEMBER}),
    transfers={},
    enrolments={ITEM: [enrolment()], (MEMBER, MEDICAL): [enrolment(scheme=MEDICAL)]},
    earlier={},
    movers={MEMBER: Mover("female", BEIJING, date(1994, 12, 31))},
    held={},
    paid={MEMBER: PAID},
    months={ITEM: 6, (MEMBER, MEDICAL): 6},
    balances={f"personal:pension:{MEMBER}": -HELD},
)
TID = keys.transfer_id(MEMBER, PENSION, SHANGHAI, LEFT)


def requested(facts=SOUND, tid=TID, on=LEFT):
    [decision] = decide_requests(LEDGER.policy, facts, [tid], on)
    return decision


def refused(facts=SOUND, tid=TID, on=LEFT) -> LedgerError:
    refusal = requested(facts, tid, on).refused
    assert refusal is not None
    return refusal


def test_a_pension_request_sends_the_whole_balance_and_twelve_percent_of_the_bases():
    """66号 Art. 4 (2), docs/DOMAIN.md §5: the personal balance whole (4,800 yuan) and
    12% of the bases paid there (6 × 10,000 yuan × 12% = 7,200 yuan) go to transit."""
    decision = requested()
    assert decision.refused is None and decision.draft is not None
    legs = {p.account: p.amount_fen for p in decision.draft.postings}
    pooling = round_half_up(6 * BASE * Fraction(12, 100))
    assert pooling == 720_000
    assert legs == {
        f"personal:pension:{MEMBER}": HELD,
        "pooling:pension:110000": pooling,
        "transit:pension": -(HELD + pooling),
    }
    assert decision.draft.idempotency_key == f"transfer-out:{TID}"


def test_request_refusals_come_in_their_order_of_precedence():
    """Broken every way, each rule mended in turn: the refusal names the next rule."""
    future = date(2025, 9, 1)
    facts = replace(SOUND, known=frozenset(), enrolments={}, earlier={ITEM: [moved(TIANJIN)]})
    steps: list[tuple[RequestFacts, str, date, type, str]] = [
        (facts, "not-an-id", LEFT, BadInput, "transfer"),
        (facts, TID, date(2025, 7, 11), BadInput, "on"),
        (
            facts,
            keys.transfer_id(MEMBER, "resident-pension", "999999", future),
            future,
            BadInput,
            "scheme",
        ),
        (
            facts,
            keys.transfer_id(MEMBER, PENSION, "999999", future),
            future,
            UnknownMember,
            "member",
        ),
    ]
    facts = replace(facts, known=frozenset({MEMBER}))
    steps += [
        (
            facts,
            keys.transfer_id(MEMBER, PENSION, "999999", future),
            future,
            UnknownRegion,
            "region",
        ),
        (facts, keys.transfer_id(MEMBER, PENSION, SHANGHAI, future), future, BadInput, "on"),
        (facts, TID, LEFT, NotEnrolled, "member"),
        (replace(facts, enrolments={ITEM: [enrolment(SHANGHAI)]}), TID, LEFT, BadInput, "to"),
    ]
    facts = replace(facts, enrolments=SOUND.enrolments)
    steps += [
        (facts, TID, LEFT, TransferStateError, "member"),
        (replace(SOUND, balances={f"personal:pension:{MEMBER}": 5}), TID, LEFT, BadInput, "member"),
        (replace(SOUND, paid={}, months={}, balances={}), TID, LEFT, BadInput, "member"),
    ]
    for facts, tid, on, kind, field in steps:
        refusal = refused(facts, tid, on)
        assert type(refusal) is kind, (tid, refusal)
        assert refusal.field == field, (tid, refusal)
    assert "negative" in str(refused(steps[-2][0]))
    assert "nothing to transfer" in str(refused(steps[-1][0]))


def test_a_request_recorded_before_is_already_done_even_if_the_member_has_moved_since():
    facts = replace(SOUND, transfers={TID: moved()}, enrolments={})
    decision = requested(facts)
    assert decision.done and decision.refused is None


def test_a_member_refused_for_two_rules_is_told_the_first():
    """Not enrolled and in transit: enrolment comes first in the precedence."""
    facts = replace(SOUND, enrolments={}, earlier={ITEM: [moved(TIANJIN)]})
    assert type(refused(facts)) is NotEnrolled


def test_a_second_request_of_a_member_in_one_batch_finds_the_first_in_transit():
    other = keys.transfer_id(MEMBER, PENSION, TIANJIN, LEFT)
    first, second, again = decide_requests(LEDGER.policy, SOUND, [TID, other, TID], LEFT)
    assert first.draft is not None
    assert isinstance(second.refused, TransferStateError) and TID in str(second.refused)
    assert again.done  # the same id twice: the second writes nothing


def test_an_empty_medical_account_with_months_paid_still_moves_its_months():
    """docs/DOMAIN.md §5 (医保办发〔2021〕43号): the years are added up at the new place
    whatever the balance: an entry whose legs are zero."""
    tid = keys.transfer_id(MEMBER, MEDICAL, SHANGHAI, LEFT)
    decision = requested(tid=tid)
    assert decision.draft is not None
    assert [p.amount_fen for p in decision.draft.postings] == [0, 0, 0]
    assert "6 months paid there move" in decision.draft.reason


def test_a_man_of_55_moving_out_of_his_hukou_province_opens_a_temporary_account():
    """66号 Art. 5 (2): from 50 (men), a move out of the hukou province keeps the
    relationship where it is; a temporary account opens, no money moves. Open already:
    already done."""
    facts = replace(SOUND, movers={MEMBER: Mover("male", BEIJING, date(1970, 1, 1))})
    decision = requested(facts)
    assert decision.temporary and decision.kept_in == BEIJING and decision.draft is None
    assert decision.leaving == enrolment()
    again = requested(replace(facts, held={MEMBER: {SHANGHAI: BEIJING}}))
    assert again.done and again.temporary


def test_accept_refusals_come_in_their_order_of_precedence():
    tid = moved().transfer_id
    low = {ITEM: [enrolment(base_fen=720_000)]}  # below Shanghai's 2025 floor (DOMAIN.md §8)
    steps = [
        (StepFacts({}, {}), ARRIVED, BadInput, "transfer"),
        (
            StepFacts({tid: moved(status=TransferStatus.RETURNED)}, {}),
            ARRIVED,
            TransferStateError,
            "transfer",
        ),
        (StepFacts({tid: moved()}, {}), date(2025, 7, 1), BadInput, "on"),
        (StepFacts({tid: moved()}, {}), ARRIVED, NotEnrolled, "member"),
        (StepFacts({tid: moved()}, low), ARRIVED, BaseOutsideRange, "base"),
    ]
    for facts, on, kind, field in steps:
        [decision] = decide_accepts(LEDGER, facts, [tid], on)
        assert type(decision.refused) is kind, decision.refused
        assert decision.refused.field == field, decision.refused
    [taken] = decide_accepts(
        LEDGER, StepFacts({tid: moved()}, {ITEM: [enrolment()]}), [tid], ARRIVED
    )
    assert taken.draft is not None and taken.transfer.status is TransferStatus.IN
    assert {p.account: p.amount_fen for p in taken.draft.postings} == {
        "transit:pension": HELD + 720_000,
        f"personal:pension:{MEMBER}": -HELD,
        "pooling:pension:310000": -720_000,
    }
    [done] = decide_accepts(
        LEDGER, StepFacts({tid: moved(status=TransferStatus.IN)}, {}), [tid], ARRIVED
    )
    assert done.done


def test_return_refusals_come_in_their_order_of_precedence():
    tid = moved().transfer_id
    steps = [
        (StepFacts({}, {}), ARRIVED, " ", BadInput, "reason"),
        (StepFacts({}, {}), ARRIVED, "rejected", BadInput, "transfer"),
        (
            StepFacts({tid: moved(status=TransferStatus.IN)}, {}),
            ARRIVED,
            "rejected",
            TransferStateError,
            "transfer",
        ),
        (StepFacts({tid: moved()}, {}), date(2025, 7, 1), "rejected", BadInput, "on"),
    ]
    for facts, on, reason, kind, field in steps:
        [decision] = decide_returns(facts, [tid], on, {tid: reason})
        assert type(decision.refused) is kind and decision.refused.field == field
    [back] = decide_returns(StepFacts({tid: moved()}, {}), [tid], ARRIVED, {tid: "no reply"})
    assert back.draft is not None and back.transfer.status is TransferStatus.RETURNED
    assert {p.account: p.amount_fen for p in back.draft.postings} == {
        "transit:pension": HELD + 720_000,
        f"personal:pension:{MEMBER}": -HELD,
        "pooling:pension:110000": -720_000,
    }
    [done] = decide_returns(
        StepFacts({tid: moved(status=TransferStatus.RETURNED)}, {}), [tid], ARRIVED, {tid: "x"}
    )
    assert done.done
