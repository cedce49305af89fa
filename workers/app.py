"""Start-up: the one place a process sets up its broker, its actors and its runtime.

Nothing here runs at import. ``start(settings)`` builds the broker the settings ask for
(Redis with ``FLEXLEDGER_REDIS_URL``, else in-process), makes it dramatiq's global broker,
declares every actor on it and sets this process's runtime (database engine, clock,
policy). Worker processes are started by dramatiq's command line with
``dramatiq workers.app:from_env``, which calls ``from_env`` to do the same from the
environment; ``flexledger worker`` runs exactly that.
"""

from __future__ import annotations

import dramatiq
from sqlalchemy import Engine

from ledger.config import Settings
from workers import actors, runtime
from workers.broker import BrokerOptions, configure


def start(
    settings: Settings, *, engine: Engine | None = None, options: BrokerOptions | None = None
) -> tuple[dramatiq.Broker, runtime.Runtime]:
    """The broker (configured, then every actor declared on it) and this process's runtime."""
    broker = configure(settings, options)
    actors.declare(broker)
    return broker, runtime.configure(settings, engine=engine)


def from_env() -> dramatiq.Broker:
    """For dramatiq's command line: ``dramatiq workers.app:from_env``."""
    broker, _ = start(Settings.from_env())
    return broker
