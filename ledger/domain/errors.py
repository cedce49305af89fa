"""One error tree for the whole product.

Every rule the ledger protects has a leaf here, named for the rule. The command line maps
``BadInput`` leaves to exit code 2 and one line on stderr naming the field and the rule;
anything else is exit code 1. Nothing is written when one of these is raised.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Raised when anything the ledger refuses or cannot do happens; the root of the tree."""

    exit_code = 1


class BadInput(LedgerError):
    """Raised when a value given by a user breaks a rule; carries the field it names."""

    exit_code = 2

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class InvalidAmount(BadInput):
    """Raised when a money string is not a yuan amount with at most two decimal places."""


class InvalidPeriod(BadInput):
    """Raised when a month or date is not of the form YYYY-MM or YYYY-MM-DD, or not real."""


class InvalidCitizenId(BadInput):
    """Raised when a citizen ID number breaks a rule of GB 11643-1999."""


class UnknownRegion(BadInput):
    """Raised when a region code names no region the policy files know."""


class UnknownScheme(BadInput):
    """Raised when a scheme name is not one of the schemes the ledger models."""


class BaseOutsideRange(BadInput):
    """Raised when a chosen contribution base lies below the floor or above the ceiling."""


class GradeNotOffered(BadInput):
    """Raised when a chosen grade is not one the region offers for that period."""


class NoPolicyInForce(BadInput):
    """Raised when no dated parameter is in force for the date (or not yet known then)."""


class PolicyFileError(LedgerError):
    """Raised when a policy file is malformed or contradicts itself; names file, key, problem."""

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        super().__init__(f"{path}: {key}: {problem}")


# The journal


class EntryNotBalanced(LedgerError):
    """Raised when an entry's postings do not sum to zero or it has fewer than two."""


class InvalidAccount(LedgerError):
    """Raised when an account name is not a colon path of the chart of accounts."""


# The database


class DatabaseUnavailable(LedgerError):
    """Raised when the database named by the URL cannot be opened or reached."""


class UnsupportedDatabase(DatabaseUnavailable, ValueError):
    """Raised when the URL names a database other than SQLite or PostgreSQL."""


class DatabaseNotInitialised(LedgerError):
    """Raised when the database has no schema revision: ``flexledger init`` was never run."""


class DatabaseBehind(LedgerError):
    """Raised when the database is at an older revision than the code needs."""


class DatabaseAhead(LedgerError):
    """Raised when the database is at a revision this code does not know: newer code migrated it."""


# Recording


class IdempotencyConflict(BadInput):
    """Raised when an idempotency key is reused for different content."""

    def __init__(self, key: str) -> None:
        super().__init__("idempotency_key", f"{key!r} was already used for different content")


class MonthAlreadyPaid(BadInput):
    """Raised when a second contribution is posted for the same member, scheme and period."""

    def __init__(self, member: str, scheme: str, period: str) -> None:
        super().__init__(
            "period",
            f"{period} is already paid for {member} ({scheme}): post a correction instead",
        )


class ClockWentBackwards(LedgerError):
    """Raised when the clock reads earlier than the last recorded entry."""


# Queries


class UnknownAccount(BadInput):
    """Raised when a query names an account the ledger has never opened."""

    def __init__(self, account: str) -> None:
        super().__init__("account", f"{account!r}: no such account in the ledger")


class UnknownMember(BadInput):
    """Raised when a command or a query names a member the ledger has never registered."""

    def __init__(self, member: str) -> None:
        super().__init__("member", f"{member}: no such member in the ledger")


class CheckpointBeyondHead(BadInput):
    """Raised when a checkpoint is asked for through an entry id that is not recorded yet."""

    def __init__(self, through: int, head: int) -> None:
        super().__init__("through_entry_id", f"{through} is after the last entry, {head}")


# Database roles


class NotPostgres(BadInput):
    """Raised when roles are asked of a database that has none (SQLite)."""

    def __init__(self) -> None:
        super().__init__(
            "FLEXLEDGER_DATABASE_URL",
            "database roles are PostgreSQL's: an embedded SQLite ledger has no roles",
        )


class LedgerNotInitialised(LedgerError):
    """Raised when the schema has no ledger tables yet: ``flexledger init`` comes first."""


# API access


class UnknownToken(BadInput):
    """Raised when a token id names no token the ledger has issued."""

    def __init__(self, token_id: int) -> None:
        super().__init__("id", f"{token_id}: no such token")


# Members and payments


class MemberConflict(BadInput):
    """Raised when a member is registered again with different details."""


class NotEnrolled(BadInput):
    """Raised when a month lies outside every enrolment of the member in the scheme."""


class BackPaymentWindowClosed(BadInput):
    """Raised when a missed month is paid after its region's back-payment window closed."""


class PaidOutsideItsMonth(BackPaymentWindowClosed):
    """Raised when a region that takes flexible employees' contributions month by month only,
    with no later catch-up that adds contribution years (``payment.frequencies``: Shanghai,
    沪人社规〔2023〕5号 item 6), is paid for a month in another month: late, or ahead together
    with other months."""


class MonthMovedWithTransfer(BadInput):
    """Raised when a month is paid in a region the member's insurance was transferred out of
    (in transit or accepted): the relationship there ended with the transfer, and the months
    now follow it to the destination (国办发〔2009〕66号; DOMAIN.md §5)."""


class NotAffiliated(BadInput):
    """Raised when a month is charged as affiliated but is not paid through an HR company."""


# Transfers


class TransferStateError(BadInput):
    """Raised when a transfer step is asked of a transfer in a state that does not allow it."""


# The bank


class BankUnavailable(LedgerError):
    """Raised when the bank does not answer in time: transient, the caller retries."""


class SettlementShort(LedgerError):
    """Raised when the bank settled a reference for less than the months due now cost."""


# Benefits


class ShortOfMinimum(BadInput):
    """Raised when a member is awarded a pension with fewer months than the minimum."""


class NotRetired(BadInput):
    """Raised when a retirement is dated before the member's statutory retirement date."""


class AlreadyRecorded(BadInput):
    """Raised when an award or event is recorded again with different details."""


# Imports


class ImportRejected(BadInput):
    """Raised when any row of an import file is bad; lists every bad row by line number."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(problems[:50])
        more = f"\n… and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            "file", f"{path}: {len(problems)} bad row(s), nothing written\n{shown}{more}"
        )


# Workers and runs


class Transient(LedgerError):
    """Raised when a fault may pass by itself (a service down, a timeout): retried later."""


class WriteRaced(Transient):
    """Raised when an append finds what the facts loaded for it did not show (another
    worker wrote the same month meanwhile): the whole message is rolled back and done
    again on fresh facts, where the decider answers "already done"."""


class SimulationStepFailed(LedgerError):
    """Raised when a simulation's message ended failed: the worker's error is the reason."""


class NeedsRedis(LedgerError):
    """Raised when a command that feeds or runs separate worker processes has no Redis."""


class RunFailed(LedgerError):
    """Raised when messages of a run ended failed (the summary was printed first)."""


# Verification


class VerifyFailed(LedgerError):
    """Raised when ``verify`` finds an entry, anchor or checkpoint that does not hold."""
