"""The root command group, shared output helpers and the error-to-exit-code mapping.

A database that cannot be used (``FLEXLEDGER_DATABASE_URL`` naming a file that is not a
database, a directory, an unreadable or read-only file, an unreachable server, a URL that
does not parse) is exit 1 with one line naming the URL, its password hidden, and the
driver's reason: it is the environment, not the command's input, that is wrong. Nothing is
written: the failed statement's transaction is rolled back.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from ledger.domain.errors import BadInput, LedgerError
from ledger.store.db import display_url

try:  # SQLAlchemy is a dependency; imported lazily elsewhere, but its errors are needed here
    from sqlalchemy import exc as sa_exc
except ImportError:  # pragma: no cover
    sa_exc = None

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flexledger")
def cli() -> None:
    """flexledger: an append-only ledger for flexible-employment social insurance."""


def run(group: click.Group, argv: Sequence[str] | None) -> int:
    """Run the CLI, turning every failure into one line on stderr and an exit code."""
    try:
        group.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except BadInput as exc:
        click.echo(f"error: {exc.field}: {exc.rule}", err=True)
        return EXIT_BAD_INPUT
    except click.UsageError as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_FAILURE
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except LedgerError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except (sa_exc.ArgumentError, sa_exc.DBAPIError) as exc:
        click.echo(f"error: database {_database_url()}: {_reason(exc)}", err=True)
        return EXIT_FAILURE
    return EXIT_OK


def _database_url() -> str:
    """The configured database URL as it may be printed (password hidden), or as given."""

    raw = os.environ.get("FLEXLEDGER_DATABASE_URL") or "sqlite:///flexledger.db"
    try:
        return f"{display_url(raw)} (FLEXLEDGER_DATABASE_URL)"
    except Exception:  # a URL that does not parse has no password to hide but may hold one
        return "named by FLEXLEDGER_DATABASE_URL (not a URL)"


def _reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first


def print_json(data: Any) -> None:
    """Print JSON for programs: sorted keys are not used, field order is the contract's."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


FREE_TEXT_WIDTH = 28


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as a table for people; numbers are right-aligned.

    Amounts, dates, ids and account names (cells without spaces) are never cut or wrapped:
    an auditor reading a statement piped to a file must see every figure whole. Free text
    (a reason, a note) wraps at word boundaries, and is never narrower than
    FREE_TEXT_WIDTH: when that does not fit the terminal, the table is printed wider.
    """
    table = Table(title=title, show_header=True, header_style="bold")
    first = rows[0] if rows else [""] * len(columns)
    needed = 1  # the left border; each column adds its padding and a border
    for index, (name, sample) in enumerate(zip(columns, first, strict=True)):
        numeric = isinstance(sample, str) and sample.replace(".", "").replace("-", "").isdigit()
        cells = [str(row[index]) for row in rows]
        free_text = any(any(c.isspace() for c in cell) for cell in cells)
        widest = max([cell_len(name), *map(cell_len, cells)])
        width = min(widest, max(FREE_TEXT_WIDTH, cell_len(name))) if free_text else widest
        table.add_column(
            name,
            justify="right" if numeric else "left",
            min_width=width,
            no_wrap=not free_text,
            overflow="fold",
        )
        needed += width + 3
    console = Console(file=sys.stdout, soft_wrap=True)
    if needed > console.width:
        console = Console(file=sys.stdout, soft_wrap=True, width=needed)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)


def json_option(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")(func)
