"""The ``flexledger`` command: thin wrappers that parse, call the domain or a service, print.

Exit codes everywhere: 0 success, 2 bad input (one line on stderr naming the field and the
rule), 1 anything else. Each command module registers its commands on ``cli``.
"""

from __future__ import annotations

import sys

import click

# Command modules register themselves on import.
from ledger.cli import quote as _quote  # noqa: F401
from ledger.cli.base import cli, run

_COMMANDS = (
    "identity", "retirement", "journal", "store", "queries", "demo", "simulate", "report", "jobs",
)  # fmt: skip
for _name in _COMMANDS:
    try:
        __import__(f"ledger.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command module not written yet
        if exc.name != f"ledger.cli.{_name}":
            raise


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code instead of raising ``SystemExit``."""
    code = run(cli, argv)
    if argv is None:
        sys.exit(code)
    return code


__all__ = ["cli", "click", "main"]
