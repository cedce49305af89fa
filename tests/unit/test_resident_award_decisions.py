"""Residents' pension awards, decided on hand-built facts: no database.

docs/DOMAIN.md §7 (国发〔2014〕8号): from 60, with 15 years of resident contributions, the
basic minimum (123.00 a month from 2024, national.toml) plus the personal account ÷ 139.
Every refusal of ``ledger.operations.resident_pensions.decide`` in its precedence."""

from dataclasses import replace
from datetime import UTC, date, datetime

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
from ledger.domain.members import Member
from ledger.operations.resident_pensions import Facts, Paid, decide
from ledger.operations.services import Ledger

MEMBER = "11010519700310007" + check_character("11010519700310007")
ON = date(2030, 3, 10)  # his 60th birthday
POLICY = Ledger(None, FixedClock(datetime(2030, 3, 20, 9, tzinfo=UTC))).policy  # type: ignore[arg-type]
FACTS = Facts(
    today=date(2030, 3, 20),
    members={MEMBER: Member(MEMBER, "110000", "110000", "male", date(1970, 3, 10))},
    awarded={},
    died={},
    paid={MEMBER: Paid(tuple(range(2016, 2031)), "110000")},
    balances={(MEMBER, ON): 840_000},
)


def one(facts=FACTS, member=MEMBER, on=ON):
    [decision] = decide(POLICY, facts, [(member, on)])
    return decision


def test_the_award_is_the_basic_minimum_plus_the_account_over_139():
    """By hand: 15 years × (500 + 60 subsidy) = 8,400.00; 8,400.00 ÷ 139 = 60.4316… →
    60.43; with the basic 123.00, 183.43 a month from 2030-04."""
    decision = one()
    assert decision.refused is None
    values = decision.values
    assert (values["basic_fen"], values["personal_fen"], values["total_fen"]) == (
        12_300,
        6_043,
        18_343,
    )
    assert (values["first_month"], values["months_counted"], values["divisor"]) == (
        "2030-04",
        180,
        "139/1",
    )
    assert values["region"] == "110000" and "国发〔2014〕8号" in values["sources"]


def test_awarded_before_from_the_same_day_is_already_done():
    decision = one(replace(FACTS, awarded={MEMBER: ON}))
    assert decision.refused is None and not decision.values


def test_a_second_award_in_one_batch_sees_the_first():
    first, same, other = decide(
        POLICY, FACTS, [(MEMBER, ON), (MEMBER, ON), (MEMBER, date(2030, 3, 11))]
    )
    assert first.values and not same.values and same.refused is None
    assert isinstance(other.refused, AlreadyRecorded) and other.refused.field == "on"


def refusal(facts=FACTS, member=MEMBER, on=ON):
    decision = one(facts, member, on)
    assert not decision.values
    return decision.refused


def test_every_refusal_in_its_order_of_precedence():
    """Start from facts that break every rule and mend one at a time: each step is refused
    by the next rule in the documented order."""
    broken = replace(
        FACTS,
        members={},
        awarded={MEMBER: date(2030, 3, 1)},
        died={MEMBER: date(2030, 1, 1)},
        paid={MEMBER: Paid((2016, 2017), "110000")},
    )
    assert isinstance(refusal(broken, member="110105197003100070"), InvalidCitizenId)
    assert isinstance(refusal(broken), UnknownMember)
    broken = replace(broken, members=FACTS.members)
    found = refusal(broken)
    assert isinstance(found, AlreadyRecorded) and "2030-03-01" in str(found)
    broken = replace(broken, awarded={})
    found = refusal(broken)
    assert isinstance(found, BadInput) and found.field == "member" and "died" in str(found)
    broken = replace(broken, died={})
    found = refusal(broken, on=date(2030, 3, 9))
    assert isinstance(found, NotRetired) and found.field == "on" and "59y11m" in str(found)
    found = refusal(broken)
    assert isinstance(found, ShortOfMinimum) and "2 years" in str(found)
    assert one(replace(broken, paid=FACTS.paid)).values
