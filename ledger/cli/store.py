"""``flexledger init``: create the database, or migrate it to the schema this code needs.

The database is the one ``FLEXLEDGER_DATABASE_URL`` names. Running it again is a no-op;
every other command refuses a database that is not at the head revision
(``ledger.store.db.open_engine``) and says to run this one.
"""

from __future__ import annotations

import click

from ledger.cli.base import cli
from ledger.config import Settings
from ledger.store.db import current_revision, display_url, make_engine, upgrade


@cli.command("init")
def init() -> None:
    """Create or upgrade the database named by FLEXLEDGER_DATABASE_URL."""
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        revision = current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"database {display_url(settings.database_url)} at revision {revision}")
