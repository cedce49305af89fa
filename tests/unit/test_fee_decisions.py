"""Charging an HR company's month, decided on hand-built facts: no database.

The fee is 200 yuan a month (DOMAIN.md §9: Hangzhou, 2024, the default everywhere)."""

from datetime import UTC, date, datetime
from decimal import Decimal

from ledger.domain.clock import FixedClock
from ledger.domain.errors import NotAffiliated, PaidOutsideItsMonth, UnknownMember
from ledger.domain.journal import EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.fees import Facts, decide
from ledger.operations.services import Ledger

PENSION, MEDICAL = Scheme.PENSION, Scheme.MEDICAL
MEMBER = "110105199001010011"
OCTOBER = Month(2025, 10)
TODAY = date(2025, 10, 20)
LEDGER = Ledger(None, FixedClock(datetime(2025, 10, 20, 12, tzinfo=UTC)))  # type: ignore[arg-type]


def enrolment(scheme=PENSION, method="agency", region="110000", member=MEMBER):
    return Enrolment(
        id=1,
        member_id=member,
        scheme=scheme,
        region=region,
        choice=BaseChoice(Decimal("60"), None, None),
        method=method,
        agency="hangzhou-hr" if method == "agency" else None,
        from_month=Month(2025, 1),
        to_month=None,
        signed_on=None,
    )


def facts(enrolments, paid=(), fees=(), registered=(MEMBER,)):
    return Facts(
        month=OCTOBER,
        registered=frozenset(registered),
        enrolments=enrolments,
        paid={k: frozenset(v) for k, v in dict(paid).items()},
        departed={},
        fees_recorded=frozenset(fees),
    )


def kinds(decision):
    return [d.kind for d in decision.drafts]


def test_an_unpaid_month_through_a_company_drafts_its_contribution_and_the_200_yuan_fee():
    [decision] = decide(
        LEDGER, facts({(MEMBER, PENSION): [enrolment()]}), [(MEMBER, PENSION)], TODAY
    )
    assert decision.refused is None
    assert kinds(decision) == [EntryKind.CONTRIBUTION, EntryKind.FEE]
    fee = decision.drafts[1]
    assert fee.idempotency_key == f"fee:2025-10:{MEMBER}"
    assert [p.amount_fen for p in fee.postings] == [20_000, -20_000]


def test_a_month_paid_and_a_fee_recorded_before_is_already_done():
    known = facts(
        {(MEMBER, PENSION): [enrolment()]},
        paid={(MEMBER, PENSION): {"2025-10"}},
        fees={f"fee:2025-10:{MEMBER}"},
    )
    [decision] = decide(LEDGER, known, [(MEMBER, PENSION)], TODAY)
    assert (decision.refused, decision.drafts) == (None, ())


def test_one_fee_per_member_and_month_whichever_scheme_comes_first():
    known = facts({(MEMBER, PENSION): [enrolment()], (MEMBER, MEDICAL): [enrolment(MEDICAL)]})
    first, second = decide(LEDGER, known, [(MEMBER, MEDICAL), (MEMBER, PENSION)], TODAY)
    assert kinds(first) == [EntryKind.CONTRIBUTION, EntryKind.FEE]
    assert kinds(second) == [EntryKind.CONTRIBUTION]


def test_refusals_come_in_their_documented_order_and_name_their_rule():
    stranger = "110105199001010038"
    known = facts({(MEMBER, PENSION): [enrolment(method="bank")]})
    yearly, unknown, by_bank = decide(
        LEDGER,
        known,
        [(stranger, Scheme.RESIDENT_PENSION), (stranger, PENSION), (MEMBER, PENSION)],
        TODAY,
    )
    # a yearly scheme is refused before asking who the member is
    assert yearly.refused is not None and yearly.refused.field == "scheme"
    assert isinstance(unknown.refused, UnknownMember)
    assert isinstance(by_bank.refused, NotAffiliated)
    assert "paying by bank" in str(by_bank.refused)
    assert all(d.drafts == () for d in (yearly, unknown, by_bank))


def test_a_contribution_rule_refuses_the_item_and_drafts_nothing_for_it():
    """Shanghai takes months one by one (沪人社规〔2023〕5号 item 6): September charged on
    20 October is refused, fee included."""
    shanghai = {(MEMBER, PENSION): [enrolment(region="310000")]}
    known = Facts(OCTOBER, frozenset([MEMBER]), shanghai, {}, {}, frozenset())
    late = Facts(Month(2025, 9), known.registered, shanghai, {}, {}, frozenset())
    [on_time] = decide(LEDGER, known, [(MEMBER, PENSION)], TODAY)
    [refused] = decide(LEDGER, late, [(MEMBER, PENSION)], TODAY)
    assert on_time.refused is None and len(on_time.drafts) == 2
    assert isinstance(refused.refused, PaidOutsideItsMonth) and refused.drafts == ()
