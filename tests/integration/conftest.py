"""Integration fixtures shared by the files that drive the command line."""

from __future__ import annotations

import pytest

from ledger.cli.context import settings


@pytest.fixture
def env(monkeypatch, empty_database, engine):
    """The command line pointed at the test's migrated database, embedded (no Redis)."""
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    monkeypatch.delenv("FLEXLEDGER_REDIS_URL", raising=False)
    settings.cache_clear()
    yield monkeypatch
    settings.cache_clear()
