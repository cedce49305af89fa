"""Configuration, read once at start-up from the environment and passed down.

``FLEXLEDGER_DATABASE_URL`` (default ``sqlite:///flexledger.db`` in the working
directory) chooses the store; ``FLEXLEDGER_REDIS_URL`` chooses the Redis broker (unset:
the in-process broker and worker). Nothing connects at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///flexledger.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    bank_failure_rate: str = "0.03"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("FLEXLEDGER_DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=env.get("FLEXLEDGER_REDIS_URL") or None,
            bank_failure_rate=env.get("FLEXLEDGER_BANK_FAILURE_RATE") or "0.03",
        )
