"""Databases for the tests: one storage contract, run on SQLite and on PostgreSQL.

Every test that asks for ``engine`` runs twice, ``[sqlite]`` on a fresh file under its
``tmp_path`` and ``[postgres]`` in a fresh schema ``t_<12 hex digits>`` of the database
``FLEXLEDGER_TEST_POSTGRES_URL`` names (default
``postgresql+psycopg://postgres@127.0.0.1:5432/flexledger_test``, created if missing). The
schema is created before the test and dropped, with everything in it, after; the engine
pins ``search_path`` to it, so tables, triggers, functions and ``alembic_version`` are the
test's own. Both are migrated to head with ``ledger.store.db.upgrade``.

When PostgreSQL cannot be reached the ``[postgres]`` tests skip, unless
``FLEXLEDGER_REQUIRE_SERVICES=1`` (CI sets it): then they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import Engine, exc, text
from sqlalchemy.engine import make_url

from ledger.store.db import display_url, make_engine, upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/flexledger_test"


@dataclass(frozen=True)
class Database:
    """A fresh, empty database for one test.

    ``url`` alone reaches it, as a user or the CLI would (on PostgreSQL it carries
    ``options=-csearch_path=<schema>``); ``make_engine()`` builds an engine on it the way
    the fixtures do.
    """

    backend: str
    url: str
    server_url: str
    schema: str | None = None

    def make_engine(self) -> Engine:
        return make_engine(self.server_url, schema=self.schema)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("FLEXLEDGER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (FLEXLEDGER_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, Engine]]:
    """The test database's URL and an AUTOCOMMIT engine on it; the database is created if
    missing (through the ``postgres`` maintenance database)."""
    url = make_url(os.environ.get("FLEXLEDGER_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    name = url.database
    assert name and name.replace("_", "").isalnum(), f"odd test database name {name!r}"
    maintenance = make_engine(url.set(database="postgres"))
    try:
        with maintenance.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if not exists:
                try:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                except exc.ProgrammingError:  # another test run created it meanwhile
                    pass
    except exc.OperationalError as error:
        _unavailable(f"PostgreSQL at {display_url(url)} is unreachable: {error.orig}")
    finally:
        maintenance.dispose()
    admin = make_engine(url)
    yield (
        url.render_as_string(hide_password=False),
        admin.execution_options(isolation_level="AUTOCOMMIT"),
    )
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with nothing in it, on each backend."""
    if request.param == "sqlite":
        path = f"sqlite:///{tmp_path / 'ledger.db'}"
        yield Database("sqlite", url=path, server_url=path)
        return
    server_url, admin = request.getfixturevalue("postgres_server")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    # libpq's options reach the schema from the URL alone, as a subprocess would.
    url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield Database(
            "postgres",
            url=url.render_as_string(hide_password=False),
            server_url=server_url,
            schema=schema,
        )
    finally:
        with admin.connect() as conn:
            # A test that left a transaction open must not hang the run.
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def bare_engine(empty_database: Database) -> Iterator[Engine]:
    """An engine on an empty database: never migrated."""
    engine = empty_database.make_engine()
    yield engine
    engine.dispose()


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    """An engine on a fresh database migrated to head, on SQLite and on PostgreSQL."""
    upgrade(bare_engine)
    return bare_engine
