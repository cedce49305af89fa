"""Months and dates: parsing, arithmetic, the July-to-June contribution year."""

from datetime import date

import pytest

from ledger.domain.errors import InvalidPeriod
from ledger.domain.period import Month, parse_date, parse_datetime


def test_month_parses_and_prints_as_yyyy_mm():
    assert str(Month.parse("2025-07")) == "2025-07"


@pytest.mark.parametrize("text", ["2025-13", "2025-7", "25-07", "2025/07", "", "1800-01"])
def test_malformed_months_are_refused_naming_the_field(text):
    with pytest.raises(InvalidPeriod) as caught:
        Month.parse(text, "period")
    assert caught.value.field == "period"


def test_contribution_year_runs_july_to_june():
    assert Month(2025, 7).contribution_year == 2025
    assert Month(2026, 6).contribution_year == 2025
    assert Month(2026, 7).contribution_year == 2026


def test_month_arithmetic_crosses_years():
    assert Month(2025, 11) + 3 == Month(2026, 2)
    assert Month(2026, 2) - Month(2025, 11) == 3
    assert [str(m) for m in Month(2025, 11).until(Month(2026, 1))] == [
        "2025-11",
        "2025-12",
        "2026-01",
    ]


def test_dates_must_be_real():
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    with pytest.raises(InvalidPeriod):
        parse_date("2025-02-29", "paid_on")


def test_a_bare_known_at_date_means_the_end_of_that_day():
    value = parse_datetime("2025-09-18")
    assert (value.hour, value.minute, value.tzinfo is not None) == (23, 59, True)
