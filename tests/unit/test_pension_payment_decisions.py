"""Paying a month's pensions, decided on hand-built facts: no database.

The award is the hand-checked female-50 one (docs/DOMAIN.md §6): basic pension 1,791.02
and personal-account pension 590.77 a month, 2,381.79 in all. The split is DOMAIN.md §6:
the basic pension from the pooling fund, the personal-account pension from the account
while it lasts, then from the pooling fund."""

from datetime import date

from ledger.domain.accounts import collection, personal, pooling, subsidy
from ledger.domain.errors import BadInput
from ledger.domain.period import Month
from ledger.domain.policy.loader import default_policy
from ledger.operations.pension_payments import PENSION, RESIDENT, Awarded, Facts, decide

MEMBER = "110105197509100020"
OTHER = "110105196001010013"
MARCH = Month(2026, 3)
PAID_ON = date(2026, 3, 10)
TODAY = date(2026, 3, 10)
POLICY = default_policy()
AWARD = Awarded("110000", 179102, 59077, date(2026, 2, 10), Month(2026, 3))


def facts(awards=None, held=None, paid=(), died=None, month=MARCH):
    awards = {(MEMBER, PENSION): AWARD} if awards is None else awards
    held = held if held is not None else {item: 1_000_000 for item in awards}
    return Facts(month, frozenset(paid), awards, died or {}, held)


def legs(decision):
    [draft] = decision.drafts
    return {p.account: p.amount_fen for p in draft.postings}


def test_a_month_with_money_in_the_account_splits_basic_to_the_pool_and_the_rest_to_the_account():
    [decision] = decide(POLICY, facts(), [(MEMBER, PENSION)], PAID_ON, TODAY)
    assert decision.refused is None
    assert legs(decision) == {
        pooling("pension", "110000"): 179102,
        personal("pension", MEMBER): 59077,
        collection("pension", "110000"): -238179,
    }
    assert decision.drafts[0].idempotency_key == f"pension:2026-03:{MEMBER}"


def test_the_account_running_out_leaves_the_pooling_fund_to_pay_the_rest():
    held = {(MEMBER, PENSION): 20000}
    [decision] = decide(POLICY, facts(held=held), [(MEMBER, PENSION)], PAID_ON, TODAY)
    assert legs(decision) == {
        pooling("pension", "110000"): 179102 + 39077,
        personal("pension", MEMBER): 20000,
        collection("pension", "110000"): -238179,
    }


def test_a_spent_account_pays_nothing_and_the_pool_pays_it_all():
    held = {(MEMBER, PENSION): 0}
    [decision] = decide(POLICY, facts(held=held), [(MEMBER, PENSION)], PAID_ON, TODAY)
    assert legs(decision) == {
        pooling("pension", "110000"): 238179,
        collection("pension", "110000"): -238179,
    }


def test_a_yearly_increase_after_retirement_is_paid_by_the_pool():
    """2% from 2025-01-01 (national.toml, unverified) on 2,381.79: round(47.6358) = 47.64."""
    award = Awarded("110000", 179102, 59077, date(2024, 6, 10), Month(2024, 7))
    month = Month(2025, 3)
    [decision] = decide(
        POLICY,
        facts({(MEMBER, PENSION): award}, month=month),
        [(MEMBER, PENSION)],
        date(2025, 3, 10),
        date(2025, 3, 10),
    )
    assert legs(decision)[pooling("pension", "110000")] == 179102 + 4764
    assert legs(decision)[personal("pension", MEMBER)] == 59077


def test_the_residents_pension_is_paid_from_the_subsidy_account():
    """国发〔2014〕8号 (DOMAIN.md §7): basic minimum 123.00 + account ÷ 139."""
    award = Awarded("110000", 12300, 5000, date(2026, 2, 1), Month(2026, 3))
    [decision] = decide(
        POLICY, facts({(MEMBER, RESIDENT): award}), [(MEMBER, RESIDENT)], PAID_ON, TODAY
    )
    assert legs(decision) == {
        subsidy("resident-pension", "110000"): 12300,
        personal("resident-pension", MEMBER): 5000,
        collection("resident-pension", "110000"): -17300,
    }
    assert decision.drafts[0].idempotency_key == f"resident-pension:2026-03:{MEMBER}"


def test_nothing_is_due_when_paid_before_unawarded_not_yet_begun_or_dead_before_the_month():
    later = Awarded("110000", 179102, 59077, date(2026, 3, 10), Month(2026, 4))
    cases = {
        "paid": facts(paid=[f"pension:2026-03:{MEMBER}"]),
        "no award": facts(awards={}),
        "first month later": facts({(MEMBER, PENSION): later}),
        "died in February": facts(died={MEMBER: date(2026, 2, 27)}),
    }
    for name, given in cases.items():
        [decision] = decide(POLICY, given, [(MEMBER, PENSION)], PAID_ON, TODAY)
        assert (decision.drafts, decision.refused) == ((), None), name


def test_the_month_of_death_is_still_paid():
    given = facts(died={MEMBER: date(2026, 3, 2)})
    [decision] = decide(POLICY, given, [(MEMBER, PENSION)], PAID_ON, TODAY)
    assert len(decision.drafts) == 1


def test_refusals_come_in_their_documented_order_and_refuse_every_item():
    items = [(MEMBER, PENSION), (OTHER, PENSION)]
    # Before the month beats in the future: both are true here.
    early = decide(POLICY, facts(), items, date(2026, 2, 28), date(2026, 1, 1))
    assert all(isinstance(d.refused, BadInput) for d in early)
    assert "cannot be paid before it" in str(early[0].refused)
    future = decide(POLICY, facts(), items, date(2026, 3, 11), TODAY)
    assert [d.refused.field for d in future] == ["today", "today"]
    assert "future" in str(future[1].refused)
    assert all(d.drafts == () for d in early + future)


def test_each_item_keeps_its_place_in_the_answer():
    awards = {(MEMBER, PENSION): AWARD, (OTHER, PENSION): AWARD}
    items = [(OTHER, PENSION), (MEMBER, PENSION)]
    decisions = decide(POLICY, facts(awards), items, PAID_ON, TODAY)
    assert [d.item for d in decisions] == items
    assert [d.drafts[0].member_id for d in decisions] == [OTHER, MEMBER]
