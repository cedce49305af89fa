"""``flexledger roles``: least-privilege PostgreSQL roles, tested by connecting as each role.

Roles are cluster-wide, so every test makes its own role names (``r<hex>_owner`` …) and
drops them afterwards; privileges live in the test's own schema (``tests/conftest.py``).
The local test server trusts connections from 127.0.0.1, so a role connects without its
password; the password tests read the stored verifier instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, exc, insert, select, text, update
from sqlalchemy.engine import make_url

from ledger.cli import main
from ledger.cli.context import settings as cli_settings
from ledger.store.balances import balance
from ledger.store.db import make_engine, upgrade
from ledger.store.roles import RoleNames, _verifier_matches, scram_verifier
from ledger.store.tables import entries, postings
from ledger.store.totals import trial_balance
from ledger.store.worker_tables import job_messages, outbox, processed_messages
from tests.commands import two_paid_months

MEMBER = "11010519491231002X"
POOLING = "pooling:pension:110000"
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass
class Cluster:
    """The test's schema on the test server, the admin's URL and the role names."""

    server_url: str
    schema: str
    admin: Engine
    names: RoleNames

    def url(self, role: str | None = None) -> str:
        url = make_url(self.server_url)
        if role is not None:
            url = url.set(username=role, password=None)
        url = url.update_query_dict({"options": f"-csearch_path={self.schema}"})
        return url.render_as_string(hide_password=False)

    def engine(self, role: str) -> Engine:
        return make_engine(self.url(role))


@pytest.fixture
def cluster(request, monkeypatch) -> Iterator[Cluster]:
    server_url, autocommit = request.getfixturevalue("postgres_server")
    tag = uuid.uuid4().hex[:10]
    schema = f"t_{tag}"
    names = RoleNames(owner=f"r{tag}_owner", writer=f"r{tag}_writer", auditor=f"r{tag}_auditor")
    with autocommit.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    admin = make_engine(server_url, schema=schema)
    found = Cluster(server_url, schema, admin, names)
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", found.url())
    monkeypatch.delenv("FLEXLEDGER_REDIS_URL", raising=False)
    monkeypatch.setenv("FLEXLEDGER_RETRY_MIN_BACKOFF_MS", "10")
    monkeypatch.setenv("FLEXLEDGER_RETRY_MAX_BACKOFF_MS", "50")
    cli_settings.cache_clear()
    try:  # from here on the schema and any role made are dropped, whatever happens
        upgrade(admin)
        yield found
    finally:
        admin.dispose()
        cli_settings.cache_clear()
        with autocommit.connect() as conn:
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            for role in (names.writer, names.auditor, names.owner):
                exists = conn.execute(
                    text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                ).first()
                if exists:
                    conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
                    conn.exec_driver_sql(f'DROP ROLE "{role}"')


def run_roles(cluster: Cluster, capsys, *extra: str) -> tuple[int, dict]:
    n = cluster.names
    code = main(
        [
            "roles",
            "--owner",
            n.owner,
            "--writer",
            n.writer,
            "--auditor",
            n.auditor,
            *extra,
            "--json",
        ]
    )
    return code, json.loads(capsys.readouterr().out)


def as_role(monkeypatch, cluster: Cluster, role: str, argv: list[str]) -> int:
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", cluster.url(role))
    cli_settings.cache_clear()
    return main(argv)


def pay_two_months(monkeypatch, cluster: Cluster, role: str) -> None:
    for argv in two_paid_months(MEMBER):
        assert as_role(monkeypatch, cluster, role, argv) == 0, argv


def refused(engine: Engine, statement: str | object) -> str:
    """The SQLSTATE with which ``statement`` is refused (the transaction rolled back)."""
    with pytest.raises(exc.DBAPIError) as caught:
        with engine.begin() as conn:
            if isinstance(statement, str):
                conn.exec_driver_sql(statement)
            else:
                conn.execute(statement)
    return caught.value.orig.sqlstate


@pytest.mark.postgres
def test_roles_creates_three_roles_and_a_second_run_changes_nothing(cluster, capsys):
    code, first = run_roles(cluster, capsys)
    assert code == 0
    n = cluster.names
    assert {f"created role {r}" for r in (n.owner, n.writer, n.auditor)} <= set(first["changes"])
    assert f"table entries: owner {n.owner}" in first["changes"]
    code, second = run_roles(cluster, capsys)
    assert (code, second["changes"]) == (0, [])


@pytest.mark.postgres
def test_the_writer_owns_nothing_and_holds_only_select_insert_and_the_workers_updates(
    cluster, capsys
):
    assert run_roles(cluster, capsys)[0] == 0
    with cluster.admin.connect() as conn:
        owned = conn.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND pg_get_userbyid(c.relowner) IN (:w, :a)"
            ),
            {"s": cluster.schema, "w": cluster.names.writer, "a": cluster.names.auditor},
        ).scalar_one()
        grants = conn.execute(
            text(
                "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                "WHERE table_schema = :s AND grantee = :w"
            ),
            {"s": cluster.schema, "w": cluster.names.writer},
        ).all()
    assert owned == 0
    updatable = {t for t, p in grants if p == "UPDATE"}
    assert updatable == {"outbox", "processed_messages", "job_messages"}
    assert {p for _, p in grants} == {"SELECT", "INSERT", "UPDATE"}


@pytest.mark.postgres
def test_the_writer_posts_through_the_ledger_but_cannot_change_or_remove_a_journal_row(
    cluster, capsys, monkeypatch
):
    assert run_roles(cluster, capsys)[0] == 0
    pay_two_months(monkeypatch, cluster, cluster.names.writer)
    writer = cluster.engine(cluster.names.writer)
    try:
        with writer.connect() as conn:
            assert conn.execute(select(entries.c.id)).scalars().all() == [1, 2]
        for statement in (
            update(entries).where(entries.c.id == 1).values(reason="edited"),
            update(postings).where(postings.c.entry_id == 1).values(amount_fen=0),
            "DELETE FROM postings WHERE entry_id = 1",
            "DELETE FROM entries WHERE id = 2",
            "TRUNCATE postings",
            "TRUNCATE entries CASCADE",
        ):
            assert refused(writer, statement) == INSUFFICIENT_PRIVILEGE, statement
        for statement in (
            "ALTER TABLE entries DISABLE TRIGGER ALL",
            "ALTER TABLE postings DISABLE TRIGGER postings_append_only",
            "ALTER TABLE entries ADD COLUMN note text",
            "DROP TRIGGER IF EXISTS entries_append_only ON entries",
            "CREATE TABLE sneaky (id int)",
            "SET session_replication_role = replica",
        ):
            assert refused(writer, statement) == INSUFFICIENT_PRIVILEGE, statement
    finally:
        writer.dispose()
    with cluster.admin.connect() as conn:  # the rows are as the writer wrote them
        assert conn.execute(select(entries.c.id)).scalars().all() == [1, 2]


@pytest.mark.postgres
def test_the_writer_runs_a_job_through_the_outbox_and_the_workers(cluster, capsys, monkeypatch):
    """The embedded worker writes the outbox, relays it (UPDATE ``sent_at``), moves
    ``job_messages`` through their statuses and records ``processed_messages``."""
    assert run_roles(cluster, capsys)[0] == 0
    pay_two_months(monkeypatch, cluster, cluster.names.writer)
    argv = [
        "jobs",
        "run",
        "contributions",
        "--from",
        "2025-09",
        "--to",
        "2025-10",
        "--paid-on",
        "2025-10-10",
        "--json",
    ]
    capsys.readouterr()
    assert as_role(monkeypatch, cluster, cluster.names.writer, argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["failed"], summary["posted"]) == (1, 0, 2)
    with cluster.admin.connect() as conn:
        assert conn.execute(select(outbox.c.sent_at)).scalars().all()[0] is not None
        assert conn.execute(select(job_messages.c.status)).scalars().all() == ["done"]
        assert len(conn.execute(select(processed_messages.c.message_id)).all()) == 1


@pytest.mark.postgres
def test_the_auditor_reads_balances_and_cannot_write(cluster, capsys, monkeypatch):
    assert run_roles(cluster, capsys)[0] == 0
    pay_two_months(monkeypatch, cluster, cluster.names.writer)
    auditor = cluster.engine(cluster.names.auditor)
    try:
        with auditor.connect() as conn, cluster.admin.connect() as admin:
            assert (
                balance(conn, POOLING, date(2025, 12, 31))
                == balance(admin, POOLING, date(2025, 12, 31))
                < 0
            )
            assert trial_balance(conn, date(2025, 12, 31)) == trial_balance(
                admin, date(2025, 12, 31)
            )
        assert (
            as_role(
                monkeypatch,
                cluster,
                cluster.names.auditor,
                ["balance", POOLING, "--as-of", "2025-12-31"],
            )
            == 0
        )
        with cluster.admin.connect() as conn:
            row = conn.execute(select(entries).where(entries.c.id == 1)).mappings().one()
        copy = {**row, "id": 3, "idempotency_key": "copy"}
        for statement in (
            insert(entries).values(copy),
            insert(outbox).values(
                message_id="m",
                queue_name="q",
                actor_name="a",
                args="{}",
                run_key="r",
                created_at=row["recorded_at"],
            ),
            update(outbox).values(sent_at=None),
            "DELETE FROM postings",
            "CREATE TABLE sneaky (id int)",
            "SELECT secret_sha256 FROM api_tokens",  # the API's token hashes are not read
        ):
            assert refused(auditor, statement) == INSUFFICIENT_PRIVILEGE, statement
    finally:
        auditor.dispose()
    capsys.readouterr()
    code = as_role(
        monkeypatch,
        cluster,
        cluster.names.auditor,
        ["member", "add", "--id", "110105196501150112", "--region", "110000"],
    )
    assert code == 1
    assert "permission denied" in capsys.readouterr().err


@pytest.mark.postgres
def test_extra_privileges_and_attributes_are_taken_back(cluster, capsys):
    assert run_roles(cluster, capsys)[0] == 0
    n = cluster.names
    with cluster.admin.begin() as conn:
        conn.exec_driver_sql(f'GRANT UPDATE, DELETE ON entries TO "{n.writer}"')
        conn.exec_driver_sql(f'GRANT INSERT ON postings TO "{n.auditor}"')
        conn.exec_driver_sql(f'ALTER ROLE "{n.writer}" CREATEDB')
        conn.exec_driver_sql(f'GRANT "{n.owner}" TO "{n.writer}"')
    code, fixed = run_roles(cluster, capsys)
    assert code == 0
    assert set(fixed["changes"]) == {
        f"table entries: revoked DELETE, UPDATE from {n.writer}",
        f"table postings: revoked INSERT from {n.auditor}",
        f"role {n.writer}: NOCREATEDB",
        f"revoked membership of {n.writer} in {n.owner}",
    }
    assert run_roles(cluster, capsys)[1]["changes"] == []


@pytest.mark.postgres
def test_passwords_come_from_the_environment_as_verifiers_and_are_never_printed(
    cluster, capsys, monkeypatch
):
    monkeypatch.setenv("WRITER_PW", "s3cret-writer-pw")
    code, first = run_roles(cluster, capsys, "--writer-password-env", "WRITER_PW")
    assert code == 0 and f"role {cluster.names.writer}: password set" in first["changes"]
    with cluster.admin.connect() as conn:
        stored = conn.execute(
            text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"),
            {"r": cluster.names.writer},
        ).scalar_one()
    assert stored.startswith("SCRAM-SHA-256$") and _verifier_matches(stored, "s3cret-writer-pw")
    assert not _verifier_matches(stored, "another")
    # The same password again changes nothing; the password is in no output.
    code, again = run_roles(cluster, capsys, "--writer-password-env", "WRITER_PW")
    assert (code, again["changes"]) == (0, [])
    assert "s3cret" not in json.dumps(first) + json.dumps(again)
    monkeypatch.delenv("WRITER_PW")
    n = cluster.names
    code = main(
        [
            "roles",
            "--owner",
            n.owner,
            "--writer",
            n.writer,
            "--auditor",
            n.auditor,
            "--writer-password-env",
            "WRITER_PW",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert (
        err == "error: --writer-password-env: environment variable 'WRITER_PW' is unset or empty\n"
    )


def test_a_scram_verifier_matches_its_password_only():
    verifier = scram_verifier("pencil", salt=b"0123456789abcdef")
    assert verifier.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    assert _verifier_matches(verifier, "pencil") and not _verifier_matches(verifier, "pen")


@pytest.mark.postgres
def test_bad_role_names_are_refused_naming_the_option(cluster, capsys):
    n = cluster.names
    for argv, message in (
        (["--writer", "Bad-Name"], "error: writer: 'Bad-Name' is not a plain lower-case role name"),
        (
            ["--auditor", n.writer, "--writer", n.writer],
            "error: roles: owner, writer and auditor must be three different roles",
        ),
        (
            ["--owner", "postgres"],
            "error: roles: 'postgres' is the role running this command: name another",
        ),
    ):
        base = {"--owner": n.owner, "--writer": n.writer, "--auditor": n.auditor}
        for flag, value in zip(argv[::2], argv[1::2], strict=True):
            base[flag] = value
        code = main(["roles", *[x for pair in base.items() for x in pair]])
        assert (code, capsys.readouterr().err) == (2, message + "\n")


def test_on_sqlite_roles_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "ledger.db"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "flexledger"), "roles"],
        env={"FLEXLEDGER_DATABASE_URL": f"sqlite:///{path}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: FLEXLEDGER_DATABASE_URL: database roles are PostgreSQL's: an embedded SQLite "
        "ledger has no roles\n"
    )
    assert not path.exists()


def _downgrade(engine: Engine, revision: str) -> None:
    """As the administrator: take the schema back to ``revision`` (a migration to redo)."""
    from alembic import command

    from ledger.store.db import _ALEMBIC, _config

    with engine.connect() as connection, connection.begin():
        config = _config()
        config.attributes["connection"] = connection
        with _ALEMBIC:
            command.downgrade(config, revision)


@pytest.mark.postgres
def test_init_migrates_as_the_owner_and_the_writer_may_not_migrate(cluster, capsys, monkeypatch):
    """A migration that alters tables (0008 rebuilds a postings index and adds a
    checkpoints column) is refused to the writer, with nothing changed, and runs as the
    owner ``flexledger roles`` made; after ``roles`` again the writer posts as before."""
    from ledger.store.db import current_revision, head_revision

    _downgrade(cluster.admin, "0007")
    assert run_roles(cluster, capsys)[0] == 0
    n = cluster.names
    capsys.readouterr()
    assert as_role(monkeypatch, cluster, n.writer, ["init"]) != 0
    assert "must be owner of table" in capsys.readouterr().err
    assert current_revision(cluster.admin) == "0007"
    writer = cluster.engine(n.writer)
    try:
        for statement in (
            "ALTER TABLE checkpoints ADD COLUMN last_date date",
            "CREATE INDEX sneaky ON postings (amount_fen)",
            "DROP INDEX ix_postings_account_entry",
        ):
            assert refused(writer, statement) == INSUFFICIENT_PRIVILEGE, statement
    finally:
        writer.dispose()
    capsys.readouterr()
    assert as_role(monkeypatch, cluster, n.owner, ["init"]) == 0
    assert f"at revision {head_revision()}" in capsys.readouterr().out
    assert current_revision(cluster.admin) == head_revision()
    with cluster.admin.connect() as conn:
        owners = set(
            conn.execute(
                text("SELECT tableowner FROM pg_tables WHERE schemaname = :s"),
                {"s": cluster.schema},
            ).scalars()
        )
    assert owners == {n.owner}
    assert as_role(monkeypatch, cluster, n.owner, ["init"]) == 0  # at head: a no-op
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", cluster.url())
    cli_settings.cache_clear()
    capsys.readouterr()
    assert run_roles(cluster, capsys)[0] == 0
    pay_two_months(monkeypatch, cluster, n.writer)
