"""Opening the ledger for a command: settings read once, the store checked to be current."""

from __future__ import annotations

from functools import lru_cache

from ledger.config import Settings
from ledger.operations.services import Ledger
from ledger.store.db import open_engine


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


def open_ledger() -> Ledger:
    """The ledger on the configured database; refuses one that is not at the head revision."""

    return Ledger(open_engine(settings()))
