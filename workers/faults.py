"""Which faults pass by themselves: the errors a message is retried on, with backoff,
instead of ending failed. A service down or slow (the database, Redis, the bank) is
transient; a refusal of the ledger's rules is not, and retrying it would only refuse again.
"""

from __future__ import annotations

import dramatiq
import redis.exceptions
from sqlalchemy.exc import OperationalError

from ledger.domain.errors import BankUnavailable, DatabaseUnavailable, Transient
from workers.outbox import BROKER_CONNECTION_ERROR

TRANSIENT: tuple[type[BaseException], ...] = (
    Transient,
    OperationalError,
    DatabaseUnavailable,
    BankUnavailable,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    BROKER_CONNECTION_ERROR,
    dramatiq.Retry,
)
"""The exception classes retried with backoff."""


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT)
