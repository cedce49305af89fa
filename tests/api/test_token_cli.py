"""``flexledger token add|list|revoke`` and ``flexledger serve``'s own refusals.

Given a fresh ledger, when a token is added it is printed once and only its hash is
stored; ``list`` never shows it; ``revoke`` writes one row, and run again writes nothing
and says so; bad input is exit 2 naming the field, nothing written; ``serve`` refuses a
bad port and shows the database URL with its password hidden.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import func, select

from ledger.store.access_tables import api_token_revocations, api_tokens


@pytest.fixture
def cli(empty_database, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    from ledger.cli import main
    from ledger.cli.context import settings

    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    settings.cache_clear()
    assert main(["init"]) == 0

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    settings.cache_clear()


def _count(engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_token_is_printed_once_and_stored_as_its_hash(cli, empty_database):
    code, out, err = cli("token", "add", "--role", "auditor", "--name", "Ms Wang", "--expires", "7")
    assert code == 0
    secret = out.strip()
    assert secret.startswith("flx_") and len(secret) == 47
    assert "shown once" in err and secret not in err
    engine = empty_database.make_engine()
    with engine.connect() as conn:
        row = conn.execute(select(api_tokens)).one()
    engine.dispose()
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert (row.name, row.role) == ("Ms Wang", "auditor")
    assert (row.expires_at - row.created_at).days == 7
    code, out, _ = cli("token", "list", "--json")
    listed = json.loads(out)["tokens"]
    assert [(t["id"], t["name"], t["role"], t["state"]) for t in listed] == [
        (row.id, "Ms Wang", "auditor", "active")
    ]
    assert secret not in out and row.secret_sha256 not in out


def test_revoking_writes_one_row_and_revoking_again_writes_nothing(cli, empty_database):
    cli("token", "add", "--role", "operator")
    engine = empty_database.make_engine()
    assert cli("token", "revoke", "1")[1].strip() == "token 1 revoked"
    assert cli("token", "revoke", "1")[1].strip() == "token 1 was already revoked"
    assert _count(engine, api_token_revocations) == 1
    assert json.loads(cli("token", "list", "--json")[1])["tokens"][0]["state"] == "revoked"
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "add", "--role", "admin"], "role: 'admin' is not one of auditor, operator"),
        (["token", "add"], "--role"),
        (["token", "add", "--role", "auditor", "--expires", "0"], "expires: 0 is not a number"),
        (["token", "add", "--role", "auditor", "--expires", "3651"], "expires: 3651"),
        (["token", "add", "--role", "auditor", "--name", " "], "name: must be 1 to 100"),
        (["token", "add", "--role", "auditor", "--name", "x" * 101], "name: must be 1 to 100"),
        (["token", "revoke", "9"], "id: 9: no such token"),
        (["token", "revoke", "nine"], "TOKEN_ID"),
        (["token", "revoke", "0"], "TOKEN_ID"),
        (["token", "revoke", "99999999999999999999999"], "TOKEN_ID"),
        (["serve", "--port", "0"], "port: 0 is not a TCP port"),
        (["serve", "--port", "70000"], "port: 70000"),
        (["serve", "--workers", "0"], "workers: 0 is not from 1 to 16"),
        (["serve", "--workers", "2"], "workers: 2 processes need FLEXLEDGER_REDIS_URL"),
    ],
)
def test_bad_token_input_is_exit_2_naming_the_field_and_writes_nothing(
    cli, empty_database, args, message
):
    code, _, err = cli(*args)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    engine = empty_database.make_engine()
    assert _count(engine, api_tokens) == 0
    engine.dispose()


def test_serve_shows_the_database_with_its_password_hidden(cli, empty_database, monkeypatch):
    import uvicorn
    from sqlalchemy.engine import make_url

    if empty_database.backend != "postgres":
        pytest.skip("a SQLite URL has no password")
    url = make_url(empty_database.url).set(password="s3cret-pw")  # trust auth ignores it
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", url.render_as_string(hide_password=False))
    from ledger.cli.context import settings

    settings.cache_clear()
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(kw, app=app))
    code, out, err = cli("serve", "--port", "8123")
    assert code == 0 and started["port"] == 8123 and started["host"] == "127.0.0.1"
    assert "s3cret-pw" not in out + err and "***" in err


def test_serve_with_workers_hands_uvicorn_the_app_factory_each_process_builds(
    cli, empty_database, monkeypatch
):
    import uvicorn

    from ledger.cli.context import settings
    from ledger.cli.serve import served_app

    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    monkeypatch.setenv("FLEXLEDGER_REDIS_URL", "redis://127.0.0.1:6379/14")
    settings.cache_clear()
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(kw, app=app))
    code, _, err = cli("serve", "--workers", "2")
    assert code == 0, err
    assert started["app"] == "ledger.cli.serve:served_app" and started["factory"] is True
    assert started["workers"] == 2
    monkeypatch.delenv("FLEXLEDGER_REDIS_URL")
    settings.cache_clear()
    app = served_app()  # what each process builds: the app on the configured database
    try:
        assert str(app.state.engine.url.database) in empty_database.url
    finally:
        app.state.engine.dispose()
        settings.cache_clear()
