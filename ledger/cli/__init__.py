"""The ``flexledger`` command: thin wrappers that parse, call the domain or a service, print.

Exit codes everywhere: 0 success, 2 bad input (one line on stderr naming the field and the
rule), 1 anything else. Each command module registers its commands on ``cli``.
"""

from __future__ import annotations

import sys

import click

# Command modules register themselves on ``cli`` when imported.
from ledger.cli import (  # noqa: F401
    benefits,
    compare,
    demo,
    identity,
    job_state,
    jobs,
    journal,
    processes,
    queries,
    quote,
    report,
    retirement,
    roles,
    serve,
    simulate,
    store,
)
from ledger.cli.base import cli, run


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code instead of raising ``SystemExit``."""
    code = run(cli, argv)
    if argv is None:
        sys.exit(code)
    return code


__all__ = ["cli", "click", "main"]
