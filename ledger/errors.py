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
