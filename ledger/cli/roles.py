"""``flexledger roles``: least-privilege PostgreSQL roles for the ledger (``ledger.store.roles``).

Run by an administrator on the database ``FLEXLEDGER_DATABASE_URL`` names, after
``flexledger init`` (and again after any ``init`` that migrates: new tables get their
privileges then). Passwords are read from environment variables named by
``--*-password-env``, never from the command line. On SQLite: one line, exit 2.
"""

from __future__ import annotations

import os

import click

from ledger.cli.base import cli, json_option, print_json
from ledger.cli.context import settings
from ledger.domain.errors import BadInput, NotPostgres
from ledger.store.db import make_engine
from ledger.store.roles import RoleNames, apply_roles


def _password(option: str, variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise BadInput(option, f"environment variable {variable!r} is unset or empty")
    return value


@cli.command("roles")
@click.option(
    "--owner",
    default=RoleNames.owner,
    show_default=True,
    help="Owns the tables; the role `flexledger init` connects as.",
)
@click.option(
    "--writer",
    default=RoleNames.writer,
    show_default=True,
    help="Workers and the API: SELECT and INSERT, no UPDATE/DELETE on the journal.",
)
@click.option("--auditor", default=RoleNames.auditor, show_default=True, help="SELECT only.")
@click.option("--owner-password-env", metavar="VAR", help="Set the owner's password from $VAR.")
@click.option("--writer-password-env", metavar="VAR", help="Set the writer's password from $VAR.")
@click.option("--auditor-password-env", metavar="VAR", help="Set the auditor's password from $VAR.")
@json_option
def roles(
    owner: str,
    writer: str,
    auditor: str,
    owner_password_env: str | None,
    writer_password_env: str | None,
    auditor_password_env: str | None,
    as_json: bool,
) -> None:
    """Create or update the owner, writer and auditor roles (PostgreSQL only)."""

    names = RoleNames(owner=owner, writer=writer, auditor=auditor)
    names.check()
    url = settings().database_url
    if url.startswith("sqlite"):
        raise NotPostgres()  # before connecting: nothing is created, not even an empty file
    passwords = {
        role: value
        for role, value in (
            (owner, _password("--owner-password-env", owner_password_env)),
            (writer, _password("--writer-password-env", writer_password_env)),
            (auditor, _password("--auditor-password-env", auditor_password_env)),
        )
        if value is not None
    }
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            changes = apply_roles(conn, names, passwords)
    finally:
        engine.dispose()
    if as_json:
        print_json({"owner": owner, "writer": writer, "auditor": auditor, "changes": changes})
        return
    for change in changes:
        click.echo(change)
    click.echo(
        f"roles {owner}, {writer}, {auditor}: "
        + (f"{len(changes)} change(s)" if changes else "up to date, nothing changed")
    )
