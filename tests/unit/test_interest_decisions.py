"""Crediting a year's interest, decided on hand-built facts: no database.

The rate of 2017 is 7.12% (人社厅发〔2018〕60号, published 2018-06-01; docs/DOMAIN.md §4).
An opening balance of 100,000.00 with no deposits earns 100,000.00 × 7.12% = 7,120.00."""

from datetime import UTC, date, datetime

import pytest

from ledger.domain.accounts import interest, personal
from ledger.domain.errors import BadInput, LedgerError
from ledger.domain.policy.loader import default_policy
from ledger.domain.schemes import Scheme
from ledger.operations.interest import Facts, _Credited, decide

PENSION = Scheme.PENSION
MEMBER = "110105199001010011"
ACCOUNT = personal("pension", MEMBER)
POLICY = default_policy()
TODAY = date(2018, 7, 1)
KNOWN = datetime(2018, 7, 1, tzinfo=UTC)


def facts(opening=-10_000_000, credited=()):
    return Facts(
        year=2017,
        names={7: ACCOUNT},
        opening={7: opening},
        deposits={},
        credited={MEMBER: list(credited)} if credited else {},
        regions={MEMBER: "110000"},
    )


def legs(decision):
    [draft] = decision.drafts
    return {p.account: p.amount_fen for p in draft.postings}


def test_an_opening_of_100000_yuan_earns_7120_yuan_in_2017():
    [decision] = decide(POLICY, facts(), PENSION, TODAY, KNOWN)
    assert decision.refused is None
    assert legs(decision) == {interest("pension", "110000"): 712_000, ACCOUNT: -712_000}
    assert decision.drafts[0].idempotency_key == f"interest:2017:pension:{MEMBER}"
    assert decision.drafts[0].effective_date == date(2017, 12, 31)


def test_a_year_credited_in_full_before_is_already_done():
    done = _Credited(
        f"interest:2017:pension:{MEMBER}", 41, datetime(2018, 6, 2, tzinfo=UTC), 712_000
    )
    [decision] = decide(POLICY, facts(credited=[done]), PENSION, TODAY, KNOWN)
    assert (decision.drafts, decision.refused) == ((), None)


def test_a_changed_opening_posts_only_the_difference_as_a_correction_of_the_credit():
    """Credited 7,120.00 on 100,000.00; the opening is now 100,100.00: 7,127.12 is due."""
    done = _Credited(
        f"interest:2017:pension:{MEMBER}", 41, datetime(2018, 6, 2, tzinfo=UTC), 712_000
    )
    [decision] = decide(POLICY, facts(-10_010_000, [done]), PENSION, TODAY, KNOWN)
    assert legs(decision)[ACCOUNT] == -712
    assert decision.drafts[0].corrects == 41
    assert decision.drafts[0].idempotency_key == f"interest:2017:pension:{MEMBER}:recalc-1"


def test_an_account_asked_for_that_does_not_exist_has_nothing_to_credit():
    other = personal("pension", "110105196001010013")
    decisions = decide(POLICY, facts(), PENSION, TODAY, KNOWN, [ACCOUNT, other])
    assert [d.item for d in decisions] == [ACCOUNT, other]
    assert (decisions[1].drafts, decisions[1].refused) == ((), None)


def test_refusals_come_in_their_documented_order():
    # The year not ended comes first, even with no rate known yet either.
    [early] = decide(
        POLICY, facts(), PENSION, date(2017, 12, 31), datetime(2017, 12, 31, tzinfo=UTC)
    )
    assert isinstance(early.refused, BadInput) and early.refused.field == "year"
    # Then a rate not known by then (2017's was published on 2018-06-01).
    [unknown] = decide(POLICY, facts(), PENSION, TODAY, datetime(2018, 1, 10, tzinfo=UTC))
    assert isinstance(unknown.refused, LedgerError) and "2017" in str(unknown.refused)
    # Then an account that is not a personal account of the scheme.
    decisions = decide(POLICY, facts(), PENSION, TODAY, KNOWN, ["pooling:pension:110000"])
    assert decisions[-1].refused.field == "accounts"
    assert all(d.drafts == () for d in [early, unknown, decisions[-1]])


@pytest.mark.parametrize("today", [date(2017, 6, 30), date(2017, 12, 31)])
def test_every_account_is_refused_while_the_year_runs(today):
    assert decide(POLICY, facts(), PENSION, today, KNOWN)[0].refused.field == "year"
