"""CSV imports, decided on hand-built facts: no database.

``ledger.operations.imports.decide``: all rows or none, every refused row named by line,
a member registered elsewhere before a member enrolled differently, a row enrolled
exactly as it says already done."""

from datetime import UTC, date, datetime

import pytest

from ledger.domain.clock import FixedClock
from ledger.domain.errors import ImportRejected
from ledger.domain.identity import check_character
from ledger.operations.imports import Facts, decide, parse_rows
from ledger.operations.services import Ledger

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
POLICY = Ledger(None, FixedClock(NOW)).policy  # type: ignore[arg-type]
NEW = "11010519800101001" + check_character("11010519800101001")
HELD = "11010519800101002" + check_character("11010519800101002")


def rows(*lines: tuple[str, str, str, str]):
    """(id, region, scheme, percent) rows from 2026-01, paid by the member."""
    given = [
        {
            "id": i,
            "region": r,
            "scheme": s,
            "base_percent": p,
            "from": "2026-01",
            "method": "monthly",
        }
        for i, r, s, p in lines
    ]
    return parse_rows(POLICY, NOW.date(), given)


def held(region="110000", percent="60", other=None):
    fields = {"region": region, "base_percent": percent, "from": "2026-01"}
    return {**fields, "method": "monthly", "agency": None, "_other": other}


def test_a_new_member_in_two_schemes_is_registered_once_and_enrolled_twice():
    parsed = rows((NEW, "110000", "pension", "60"), (NEW, "110000", "medical", "60"))
    plan = decide("f.csv", parsed, Facts({}, {}), NOW)
    assert [m[:4] for m in plan.members] == [(NEW, "110000", "110105", "male")]
    assert plan.members[0][4] == date(1980, 1, 1)
    assert [(e[0], e[1], e[3], e[8]) for e in plan.enrolments] == [
        (NEW, "pension", "60", "2026-01"),
        (NEW, "medical", "60", "2026-01"),
    ]
    assert (plan.result.members, plan.result.enrolments) == (1, 2)


def test_a_row_enrolled_exactly_as_it_says_is_already_done():
    facts = Facts({HELD: "110000"}, {(HELD, "pension"): held()})
    plan = decide("f.csv", rows((HELD, "110000", "pension", "60")), facts, NOW)
    assert plan.members == [] and plan.enrolments == []
    assert (plan.result.already_registered, plan.result.already_enrolled) == (1, 1)


def test_a_registered_member_enrolled_in_a_new_scheme_is_enrolled_only():
    facts = Facts({HELD: "110000"}, {(HELD, "pension"): held()})
    plan = decide("f.csv", rows((HELD, "110000", "medical", "60")), facts, NOW)
    assert plan.members == [] and [e[1] for e in plan.enrolments] == ["medical"]
    assert plan.result.already_registered == 1


def test_an_enrolment_that_differs_is_refused_naming_the_line_and_the_field():
    facts = Facts({HELD: "110000"}, {(HELD, "pension"): held(percent="100")})
    with pytest.raises(ImportRejected) as refused:
        decide(
            "f.csv",
            rows((NEW, "110000", "pension", "60"), (HELD, "110000", "pension", "60")),
            facts,
            NOW,
        )
    [problem] = refused.value.problems
    assert problem.startswith("line 3: base_percent:") and "100" in problem


def test_what_a_row_cannot_say_makes_the_same_row_differ():
    facts = Facts({HELD: "110000"}, {(HELD, "pension"): held(other="a base amount")})
    with pytest.raises(ImportRejected, match=r"line 2: base_percent: .*a base amount"):
        decide("f.csv", rows((HELD, "110000", "pension", "60")), facts, NOW)


def test_a_member_registered_elsewhere_is_refused_before_any_enrolment_difference():
    facts = Facts(
        {HELD: "310000", NEW: "110000"},
        {(NEW, "pension"): held(percent="100")},
    )
    parsed = rows((NEW, "110000", "pension", "60"), (HELD, "110000", "pension", "60"))
    with pytest.raises(ImportRejected) as refused:
        decide("f.csv", parsed, facts, NOW)
    assert refused.value.problems == [
        f"line 3: id: {HELD} is already registered in region 310000, not 110000"
    ]
