"""Engines and schema revisions: the one place that knows how to open the store.

SQLite files run in WAL mode with foreign keys on, a 30 s busy timeout and
``synchronous=NORMAL`` (a simulation's bulk load: ``OFF`` until it ends, then one sync,
``deferred_sync``); every transaction starts with ``BEGIN IMMEDIATE``, so writers
queue for the write lock at BEGIN instead of failing when a read upgrades to a write
(the pysqlite recipe of the SQLAlchemy docs: the driver's own BEGIN is switched off and
SQLAlchemy emits ours). PostgreSQL (``postgresql+psycopg://``) gets a pooled engine with
pre-ping; ``schema=`` pins ``search_path`` on every connection (the tests give each test
its own schema).

The schema is Alembic's (``migrations/`` at the top level, one history for both
backends). Commands other than ``flexledger init`` open the store with ``open_engine``,
which refuses a database that is not at the head revision rather than migrate it behind
the user's back. Nothing connects at import time.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import StaticPool

import ledger
from ledger.config import Settings
from ledger.domain.errors import (
    DatabaseAhead,
    DatabaseBehind,
    DatabaseNotInitialised,
    DatabaseUnavailable,
    UnsupportedDatabase,
)

MIGRATIONS_DIR = Path(ledger.__file__).parent.parent / "migrations"

BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 262_144  # 256 MiB per connection, allocated only as pages are used
# Checkpoint the WAL into the database file every 64 MiB, not every 4 MiB (the default):
# each checkpoint syncs, and a worker commits once per message, so the default made a
# simulation checkpoint far more often than it wrote anything new (5 years at 2,000
# members: 21.4 s at the default, 18.4 s at 16,384 pages).
SQLITE_WAL_PAGES = 16_384
CONNECT_TIMEOUT_S = 10

# One migration at a time per schema: a transaction-level lock, released at COMMIT.
_MIGRATION_LOCK = (
    "SELECT pg_advisory_xact_lock("
    "hashtext('flexledger-migrations:' || coalesce(current_schema(), '')))"
)

# Alembic runs a migration through module-level proxies (``alembic.context``, ``op``), so
# one process runs one migration at a time, whatever the databases.
_ALEMBIC = threading.Lock()

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


# --- engines -------------------------------------------------------------------------


def make_engine(url: str | URL, *, schema: str | None = None) -> Engine:
    """An engine for ``url``; ``schema`` (PostgreSQL only) becomes every connection's search_path.

    ``postgresql://`` and ``postgres://`` URLs are taken to mean the psycopg 3 driver, the
    only PostgreSQL driver the project installs.
    """
    parsed = _normalise(make_url(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("schema= is for PostgreSQL; a SQLite database is one file")
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return _postgres_engine(parsed, schema)
    raise UnsupportedDatabase(
        f"cannot open {display_url(parsed)}: unsupported database {backend!r}: use sqlite:/// "
        "or postgresql+psycopg://"
    )


def _normalise(url: URL) -> URL:
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_engine(url: URL) -> Engine:
    memory = _is_memory(url)
    if memory:
        # One connection shared by everyone: a second one would see another, empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not emit BEGIN itself (it would be a deferred BEGIN, and only
        # before DML); _begin below emits BEGIN IMMEDIATE for every transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL needs a lock another process may hold.
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # Indexes of a ledger with millions of postings outgrow SQLite's 2 MiB default
            # page cache, and random inserts into them then read from disk: give it room.
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            cursor.execute("PRAGMA temp_store = MEMORY")
            cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_PAGES}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: URL, schema: str | None) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    # No JIT: the ledger's statements are index probes and short aggregates, for which
    # compiling (jit_above_cost is crossed by a trial balance's estimate) costs more than
    # it saves: 0.23 s of a 0.44 s trial balance at 10 million postings.
    @event.listens_for(engine, "connect")
    def _no_jit(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # SET outside a transaction, so it sticks
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SET SESSION jit = off")
        finally:
            cursor.close()
        dbapi_connection.autocommit = autocommit

    if schema is not None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"{schema!r} is not a plain lower-case schema name")

        # insert=True: before the dialect's first-connect initialisation, so that it
        # already sees the schema as the default one.
        @event.listens_for(engine, "connect", insert=True)
        def _search_path(dbapi_connection: Any, _record: Any) -> None:
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True  # SET outside a transaction, so it sticks
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f'SET SESSION search_path TO "{schema}"')
            finally:
                cursor.close()
            dbapi_connection.autocommit = autocommit

    return engine


@contextmanager
def deferred_sync(engine: Engine) -> Iterator[bool]:
    """A bulk load into a SQLite file: commits without waiting for the disk, one sync at the end.

    Inside the block every connection the engine hands out runs with
    ``synchronous=OFF``: a commit still reaches the operating system before it returns
    (a crash of the process loses nothing committed), but nothing waits for the disk, and
    the WAL checkpoints, which a worker committing once per message triggers every few
    messages, stop syncing. Leaving the block restores ``synchronous=NORMAL`` on every
    connection and checkpoints the whole WAL into the database file with a sync
    (``wal_checkpoint(TRUNCATE)``), so what was written is as durable as any commit.

    What this gives up: a crash of the operating system or a power cut inside the block
    can leave the file corrupt. Only a simulation uses it: it writes into an empty ledger
    and can be run again from its seed. Yields True when it applies (a SQLite file); other
    databases and in-memory SQLite are left alone.
    """
    if engine.dialect.name != "sqlite" or _is_memory(engine.url):
        yield False
        return

    def _unsynced(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous = OFF")

    def _synced(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    event.listen(engine, "checkout", _unsynced)
    event.listen(engine, "checkin", _synced)
    try:
        yield True
    finally:
        event.remove(engine, "checkout", _unsynced)
        event.remove(engine, "checkin", _synced)
        # synchronous=NORMAL (restored at checkin): the WAL is synced before the
        # checkpoint copies it and the database file after.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("PRAGMA synchronous = NORMAL")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


JOURNAL_TABLES = ("members", "enrolments", "accounts", "entries", "postings")


def refresh_statistics(engine: Engine) -> bool:
    """ANALYZE the journal's tables on PostgreSQL, after a bulk load; True if it ran.

    PostgreSQL chooses between an index and a sequential scan from its table statistics. A
    ledger that grew from nothing in one run (a simulation) has none until autovacuum gets
    to it, which lags a bulk load and may be off: without them, looking up a member's 60
    postings by entry id became a 0.3 s parallel scan of all postings, and a simulation's
    yearly step grew from 5 to 16 s within four simulated years. SQLite plans these queries
    by rule; nothing to do there.
    """
    if engine.dialect.name != "postgresql":
        return False
    with engine.begin() as conn:
        conn.execute(text(f"ANALYZE {', '.join(JOURNAL_TABLES)}"))
    return True


def display_url(url: str | URL) -> str:
    """The URL as it may be printed: the password, if any, replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def _connect(engine: Engine) -> Iterator[Connection]:
    try:
        connection = engine.connect()
    except exc.DBAPIError as error:  # OperationalError, or DatabaseError: "file is not a database"
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise DatabaseUnavailable(f"cannot open {display_url(engine.url)}: {reason}") from None
    with connection:
        yield connection


# --- revisions -----------------------------------------------------------------------


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The revision the code needs: the head of ``migrations/versions``."""
    head = _scripts().get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS_DIR}"
    return head


def _known_revisions() -> set[str]:
    return {script.revision for script in _scripts().walk_revisions()}


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None if it was never initialised."""
    with _connect(engine) as connection:
        return _revision_of(connection)


def upgrade(engine: Engine) -> None:
    """Migrate the database to the head revision, in one transaction; a no-op at head.

    Concurrent upgrades of one database queue (SQLite's ``BEGIN IMMEDIATE``; on
    PostgreSQL a transaction-level advisory lock per schema) and the second finds the
    work done; within a process, migrations also take turns (Alembic's state is global).
    """
    with _connect(engine) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text(_MIGRATION_LOCK))
        revision = _revision_of(connection)
        if revision is not None and revision not in _known_revisions():
            raise _ahead(revision)
        config = _config()
        config.attributes["connection"] = connection
        with _ALEMBIC:
            command.upgrade(config, "head")


def require_current(engine: Engine) -> None:
    """Refuse a database that is not at the head revision, saying what to do about it."""
    revision = current_revision(engine)
    head = head_revision()
    if revision == head:
        return
    if revision is None:
        raise DatabaseNotInitialised(
            f"database {display_url(engine.url)} has no schema revision, the code needs "
            f"{head}: run `flexledger init`"
        )
    if revision not in _known_revisions():
        raise _ahead(revision)
    raise DatabaseBehind(
        f"database is at revision {revision}, the code needs {head}: run `flexledger init`"
    )


def _ahead(revision: str) -> DatabaseAhead:
    return DatabaseAhead(
        f"database is at revision {revision}, which this flexledger does not know (its newest "
        f"is {head_revision()}): upgrade flexledger"
    )


def open_engine(settings: Settings) -> Engine:
    """The engine for ``settings.database_url``, refusing a database not at the head revision."""
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
