"""A small simulated ledger served over HTTP, on SQLite and on PostgreSQL.

``served`` is built once per test module and backend: 20 members over 2 years (seed 3:
agencies, transfers and gaps included), migrated to head, with four tokens — an auditor,
an operator, one that expired and one that was revoked. Tests only append to it (access
log rows, verify runs), so they may share it. ``cli_json`` runs a CLI command with
``--json`` on the same database and returns what it printed, parsed.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from ledger.domain.clock import FixedClock, SystemClock
from ledger.operations.services import Ledger
from ledger.simulate import Scenario, Simulation
from ledger.store.access import issue_token, revoke_token
from ledger.store.db import make_engine, upgrade
from tests.conftest import _unavailable

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")

from fastapi.testclient import TestClient  # noqa: E402

from ledger.api.app import create_app  # noqa: E402

MEMBERS, YEARS, SEED, START = 20, 2, 3, 2017


@dataclass
class Served:
    backend: str
    url: str
    engine: Engine
    client: TestClient
    auditor: str
    operator: str
    expired: str
    revoked: str
    ids: dict[str, int]

    def get(self, path: str, token: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.get(path, headers=headers, **kwargs)

    def finish_jobs(self) -> None:
        """Wait for the verify jobs the app started in its background thread."""
        self.client.app.state.jobs.join(120)  # type: ignore[attr-defined]

    def post(self, path: str, token: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post(path, headers=headers, **kwargs)


def _build(backend: str, url: str, engine: Engine) -> Served:
    upgrade(engine)
    ledger = Ledger(engine, FixedClock(datetime(START, 1, 1, tzinfo=UTC)))
    Simulation(ledger, Scenario(), seed=SEED, members=MEMBERS, years=YEARS, start=START).run()
    ids: dict[str, int] = {}
    secrets: dict[str, str] = {}
    with engine.begin() as conn:
        for role in ("auditor", "operator"):
            ids[role], secrets[role] = issue_token(conn, SystemClock(), role, f"test {role}", 30)
        long_ago = FixedClock(datetime(2020, 1, 1, tzinfo=UTC))
        ids["expired"], secrets["expired"] = issue_token(conn, long_ago, "auditor", "old", 1)
        ids["revoked"], secrets["revoked"] = issue_token(
            conn, SystemClock(), "operator", "gone", 30
        )
        revoke_token(conn, SystemClock(), ids["revoked"])
    client = TestClient(create_app(engine), raise_server_exceptions=False)
    return Served(
        backend,
        url,
        engine,
        client,
        secrets["auditor"],
        secrets["operator"],
        secrets["expired"],
        secrets["revoked"],
        ids,
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'ledger.db'}"
        engine = make_engine(url)
        try:
            yield _build("sqlite", url, engine)
        finally:
            engine.dispose()
        return
    server_url, admin = request.getfixturevalue("postgres_server")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(server_url, schema=schema)
    try:
        yield _build("postgres", url.render_as_string(hide_password=False), engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def cli_json(served: Served, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    from ledger.cli import main
    from ledger.cli.context import settings

    def run(*args: str) -> object:
        monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", served.url)
        settings.cache_clear()
        capsys.readouterr()
        code = main([*args, "--json"])
        out = capsys.readouterr().out
        assert code == 0, out
        settings.cache_clear()
        return json.loads(out)

    return run


def require_chromium() -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver; skip (fail in CI) when missing."""
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        _unavailable(
            "chromium and chromium-driver are not installed (apt-get install "
            "chromium chromium-driver)"
        )
    return browser, driver  # type: ignore[return-value]


__all__ = ["Served", "require_chromium"]
