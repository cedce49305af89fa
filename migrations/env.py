"""Alembic's entry point: one migration history for SQLite and PostgreSQL.

``ledger.store.db.upgrade`` passes its connection (already in a transaction) in
``config.attributes["connection"]``, so a migration runs on exactly that engine, test
schemas included, and commits with the caller. Without one, the database is the one
``FLEXLEDGER_DATABASE_URL`` names. SQLite alters tables by rebuilding them, so
autogenerate renders batch operations there — and a rebuilt append-only table must have
its triggers recreated (``migrations/invariants.py``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection, Engine

from ledger.config import Settings
from ledger.store.catalog import metadata
from ledger.store.db import make_engine

config = context.config
target_metadata = metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade --sql``)."""
    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _configure(given)
        return
    engine = given if isinstance(given, Engine) else make_engine(Settings.from_env().database_url)
    try:
        with engine.connect() as connection:
            _configure(connection)
    finally:
        if engine is not given:
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
