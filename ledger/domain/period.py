"""Calendar months and dates as the ledger uses them.

A ``Month`` is a contribution month (``2025-07``). The contribution year, in which
bases switch, runs from 1 July to 30 June and is named by the year it starts in:
``Month(2026, 3).contribution_year == 2025``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import overload

from ledger.domain.errors import InvalidPeriod

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month; ordered, hashable, and counted by ``index`` (months since year 0)."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise InvalidPeriod("month", f"month must be 01 to 12, got {self.month:02d}")
        if not 1900 <= self.year <= 2200:
            raise InvalidPeriod("month", f"year must be 1900 to 2200, got {self.year}")

    @classmethod
    def parse(cls, text: str, field: str = "month") -> Month:
        match = _MONTH.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise InvalidPeriod(field, f"{text!r} is not a month of the form YYYY-MM")
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise InvalidPeriod(field, f"{text!r}: month must be 01 to 12")
        if not 1900 <= year <= 2200:
            raise InvalidPeriod(field, f"{text!r}: year must be 1900 to 2200")
        return cls(year, month)

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def from_index(cls, index: int) -> Month:
        return _from_index(index)

    @property
    def index(self) -> int:
        return self.year * 12 + self.month - 1

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return (self + 1).first_day - timedelta(days=1)

    @property
    def contribution_year(self) -> int:
        """The contribution year (1 July to 30 June) this month belongs to, named by its start."""
        return self.year if self.month >= 7 else self.year - 1

    def __add__(self, months: int) -> Month:
        return Month.from_index(self.index + months)

    @overload
    def __sub__(self, other: Month) -> int: ...
    @overload
    def __sub__(self, other: int) -> Month: ...
    def __sub__(self, other: Month | int) -> int | Month:
        """Months between two months, or the month ``other`` months earlier."""
        if isinstance(other, int):
            return Month.from_index(self.index - other)
        return self.index - other.index

    def until(self, last: Month) -> Iterator[Month]:
        """Every month from this one to ``last``, both included."""
        return iter(_months(self.index, last.index))

    def __str__(self) -> str:
        return _month_text(self.year, self.month)


@lru_cache(maxsize=8192)
def _from_index(index: int) -> Month:
    # Months are immutable: batches draft the same few months by the hundred thousand.
    year, month0 = divmod(index, 12)
    return Month(year, month0 + 1)


@lru_cache(maxsize=4096)
def _months(first: int, last: int) -> tuple[Month, ...]:
    return tuple(_from_index(index) for index in range(first, last + 1))


@lru_cache(maxsize=4096)
def _month_text(year: int, month: int) -> str:
    # Months are printed by the million in bulk posting (keys, periods): print each once.
    return f"{year:04d}-{month:02d}"


def parse_date(text: str, field: str = "date") -> date:
    """Parse ``YYYY-MM-DD`` strictly, naming the field when it is not a real date."""
    try:
        if not isinstance(text, str) or len(text.strip()) != 10:
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidPeriod(field, f"{text!r} is not a real date of the form YYYY-MM-DD") from exc


def parse_datetime(text: str, field: str = "datetime") -> datetime:
    """Parse an ISO date or date-time; a naive value is taken as UTC, a bare date as its end."""
    try:
        raw = text.strip()
        if len(raw) == 10:
            value = datetime.combine(date.fromisoformat(raw), datetime.max.time())
        else:
            value = datetime.fromisoformat(raw)
    except (ValueError, AttributeError) as exc:
        raise InvalidPeriod(field, f"{text!r} is not an ISO date or date-time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)
