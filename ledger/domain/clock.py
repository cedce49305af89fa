"""The one clock: code asks ``clock.now()``; tests freeze it with freezegun.

Recorded times are always timezone-aware UTC. The database never supplies a timestamp
the ledger relies on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC (``datetime.now`` so freezegun can freeze it)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved; for tests and deterministic simulations."""

    def __init__(self, at: datetime) -> None:
        self.at = as_utc(at)

    def now(self) -> datetime:
        return self.at

    def advance_to(self, at: datetime) -> None:
        self.at = as_utc(at)


def as_utc(at: datetime) -> datetime:
    """Naive times are taken as UTC; aware ones converted (SQLite keeps no offset)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
