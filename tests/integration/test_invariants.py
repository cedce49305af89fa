"""The database itself keeps the ledger's invariants, on SQLite and PostgreSQL alike.

Given a migrated database holding one balanced entry, when anyone — not only the
recorder — tries to change or remove a recorded row with plain SQL, then the database
refuses; on PostgreSQL an unbalanced entry is also refused at COMMIT. And the schema's
revision is checked before use: ``flexledger init`` creates it, other commands refuse a
database that is not at the head.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from ledger.cli import main
from ledger.config import Settings
from ledger.domain import errors
from ledger.store import db
from ledger.store.catalog import metadata
from ledger.store.tables import (
    APPEND_ONLY_TABLES,
    accounts,
    bank_settlements,
    benefit_events,
    chain_anchors,
    enrolments,
    entries,
    members,
    pension_awards,
    postings,
    simulations,
    temporary_accounts,
)

RECORDED_AT = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
PAID_ON = date(2026, 1, 10)
MEMBER = "11010519491231002X"
REFUSAL = "is append-only: corrections are new entries"

only_postgres = pytest.mark.parametrize(
    "empty_database", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
only_sqlite = pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)


def an_entry(entry_id: int) -> dict[str, object]:
    return {
        "id": entry_id,
        "kind": "contribution" if entry_id == 1 else "adjustment",
        "effective_date": PAID_ON,
        "recorded_at": RECORDED_AT,
        "period": "2025-07",
        "member_id": MEMBER,
        "scheme": "pension",
        "region": "110000",
        "base_fen": 716200,
        "idempotency_key": f"test:{entry_id}",
        "fingerprint": "f" * 64,
        "prev_hash": "0" * 64,
        "hash": f"{entry_id:064x}",
    }


def legs(entry_id: int, *amounts_fen: int) -> list[dict[str, object]]:
    """Postings of ``entry_id`` alternating between accounts 1 and 2."""
    return [
        {
            "entry_id": entry_id,
            "account_id": 1 + i % 2,
            "amount_fen": amount,
            "effective_date": PAID_ON,
        }
        for i, amount in enumerate(amounts_fen)
    ]


def record(conn: Connection, entry_id: int, *amounts_fen: int) -> None:
    conn.execute(insert(entries).values(an_entry(entry_id)))
    if amounts_fen:
        conn.execute(insert(postings), legs(entry_id, *amounts_fen))


@pytest.fixture
def ledger_with_one_entry(engine: Engine) -> Engine:
    """A member, an enrolment, two accounts and entry 1: 143,240 fen in, 143,240 fen out."""
    with engine.begin() as conn:
        conn.execute(
            insert(members).values(
                id=MEMBER,
                region="110105",
                hukou="110105",
                sex="female",
                birth_date=date(1949, 12, 31),
                recorded_at=RECORDED_AT,
            )
        )
        conn.execute(
            insert(enrolments).values(
                member_id=MEMBER,
                scheme="pension",
                region="110000",
                base_percent="60",
                method="monthly",
                from_month="2025-07",
                recorded_at=RECORDED_AT,
            )
        )
        conn.execute(
            insert(accounts).values(recorded_at=RECORDED_AT),
            [
                {"id": 1, "name": "collection:pension:110000", "type": "asset"},
                {"id": 2, "name": f"personal:pension:{MEMBER}", "type": "liability"},
            ],
        )
        record(conn, 1, 143240, -143240)
        conn.execute(
            insert(chain_anchors).values(entry_id=1, hash="a" * 64, recorded_at=RECORDED_AT)
        )
        conn.execute(
            insert(simulations).values(
                seed=7,
                members=1,
                first_month="2025-07",
                last_month="2025-12",
                scenario="{}",
                recorded_at=RECORDED_AT,
            )
        )
        conn.execute(
            insert(bank_settlements).values(
                reference=f"bank:{MEMBER}:pension:2026:2026-01-10",
                member_id=MEMBER,
                scheme="pension",
                bank_ref="REF-1",
                settled_fen=143240,
                due_fen=143240,
                recorded_at=RECORDED_AT,
            )
        )
        conn.execute(
            insert(pension_awards).values(
                member_id=MEMBER,
                scheme="pension",
                region="110000",
                retired_on=date(2026, 1, 1),
                first_month="2026-02",
                age_years=60,
                age_extra_months=0,
                months_counted=180,
                minimum_months=180,
                index_sum="180/1",
                average_index="1/1",
                calculation_base_fen=1204900,
                personal_balance_fen=11520000,
                divisor="139/1",
                basic_fen=180735,
                personal_fen=82878,
                total_fen=263613,
                inputs="{}",
                sources="-",
                recorded_at=RECORDED_AT,
            )
        )
        conn.execute(
            insert(benefit_events).values(
                member_id=MEMBER,
                kind="death",
                on_date=date(2026, 1, 5),
                detail="died",
                recorded_at=RECORDED_AT,
            )
        )
        conn.execute(
            insert(temporary_accounts).values(
                member_id=MEMBER,
                scheme="pension",
                region="310000",
                kept_in="110000",
                opened_on=date(2025, 7, 10),
                from_month="2025-08",
                reason="66号 Art. 5 (2)",
                recorded_at=RECORDED_AT,
            )
        )
    return engine


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (
                members,
                enrolments,
                entries,
                postings,
                chain_anchors,
                simulations,
                bank_settlements,
                pension_awards,
                benefit_events,
                temporary_accounts,
            )
        }


# --- append-only ---------------------------------------------------------------------

CHANGES = [
    ("entries", "UPDATE entries SET reason = 'edited' WHERE id = 1"),
    ("entries", "DELETE FROM entries"),
    ("postings", "UPDATE postings SET amount_fen = amount_fen * 2"),
    ("postings", "DELETE FROM postings WHERE entry_id = 1"),
    ("members", "UPDATE members SET region = '310000'"),
    ("members", "DELETE FROM members"),
    ("enrolments", "UPDATE enrolments SET to_month = '2025-12'"),
    ("enrolments", "DELETE FROM enrolments"),
    ("chain_anchors", "UPDATE chain_anchors SET hash = 'b'"),
    ("chain_anchors", "DELETE FROM chain_anchors"),
    ("simulations", "UPDATE simulations SET seed = 8"),
    ("simulations", "DELETE FROM simulations"),
    ("bank_settlements", "UPDATE bank_settlements SET settled_fen = 0"),
    ("bank_settlements", "DELETE FROM bank_settlements"),
    ("pension_awards", "UPDATE pension_awards SET total_fen = 0"),
    ("pension_awards", "DELETE FROM pension_awards"),
    ("benefit_events", "UPDATE benefit_events SET on_date = '2026-01-06'"),
    ("benefit_events", "DELETE FROM benefit_events"),
    ("temporary_accounts", "UPDATE temporary_accounts SET kept_in = '310000'"),
    ("temporary_accounts", "DELETE FROM temporary_accounts"),
]


@pytest.mark.parametrize(("table", "statement"), CHANGES, ids=[s for _, s in CHANGES])
def test_the_database_refuses_to_update_or_delete_a_recorded_row(
    ledger_with_one_entry: Engine, table: str, statement: str
) -> None:
    before = row_counts(ledger_with_one_entry)
    with pytest.raises(IntegrityError, match=f"{table} {REFUSAL}"):
        with ledger_with_one_entry.begin() as conn:
            conn.execute(text(statement))
    assert row_counts(ledger_with_one_entry) == before


def test_every_append_only_table_is_covered_by_the_refusal_tests() -> None:
    assert {table for table, _ in CHANGES} == set(APPEND_ONLY_TABLES)


def test_a_refused_change_leaves_the_row_as_it_was(ledger_with_one_entry: Engine) -> None:
    with pytest.raises(IntegrityError):
        with ledger_with_one_entry.begin() as conn:
            conn.execute(text("UPDATE postings SET amount_fen = 0"))
    with ledger_with_one_entry.connect() as conn:
        amounts = conn.execute(select(postings.c.amount_fen).order_by(postings.c.id)).scalars()
        assert list(amounts) == [143240, -143240]


def test_new_entries_are_still_accepted_after_a_refusal(ledger_with_one_entry: Engine) -> None:
    with pytest.raises(IntegrityError):
        with ledger_with_one_entry.begin() as conn:
            conn.execute(text("DELETE FROM entries"))
    with ledger_with_one_entry.begin() as conn:
        record(conn, 2, 500, -500)
    assert row_counts(ledger_with_one_entry)["entries"] == 2


@only_postgres
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_postgres_refuses_to_truncate_an_append_only_table(
    ledger_with_one_entry: Engine, table: str
) -> None:
    before = row_counts(ledger_with_one_entry)
    # CASCADE: otherwise the foreign keys, not the trigger, would refuse some of them.
    with pytest.raises(IntegrityError, match=REFUSAL):
        with ledger_with_one_entry.begin() as conn:
            conn.execute(text(f"TRUNCATE {table} CASCADE"))
    assert row_counts(ledger_with_one_entry) == before


# --- balanced (PostgreSQL) -------------------------------------------------------------


@only_postgres
@pytest.mark.parametrize(
    ("amounts_fen", "message"),
    [
        ((143240, -143230), "entry 2 is not balanced: 2 posting(s) summing to 10 fen"),
        ((0,), "entry 2 is not balanced: 1 posting(s) summing to 0 fen"),
        ((500,), "entry 2 is not balanced: 1 posting(s) summing to 500 fen"),
        ((), "entry 2 is not balanced: 0 posting(s) summing to 0 fen"),
    ],
    ids=["not-zero-sum", "one-zero-posting", "one-posting", "no-postings"],
)
def test_postgres_refuses_an_unbalanced_entry_at_commit(
    ledger_with_one_entry: Engine, amounts_fen: tuple[int, ...], message: str
) -> None:
    with ledger_with_one_entry.connect() as conn:
        transaction = conn.begin()
        record(conn, 2, *amounts_fen)  # accepted until COMMIT: the check is deferred
        with pytest.raises(IntegrityError, match=message.replace("(", r"\(").replace(")", r"\)")):
            transaction.commit()
    assert row_counts(ledger_with_one_entry)["entries"] == 1


@only_postgres
def test_postgres_refuses_a_posting_added_later_to_a_recorded_entry(
    ledger_with_one_entry: Engine,
) -> None:
    with pytest.raises(IntegrityError, match="entry 1 is not balanced"):
        with ledger_with_one_entry.begin() as conn:
            conn.execute(insert(postings), legs(1, 99))
    assert row_counts(ledger_with_one_entry)["postings"] == 2


@only_postgres
def test_postgres_accepts_a_balanced_entry_of_many_postings(ledger_with_one_entry: Engine) -> None:
    with ledger_with_one_entry.begin() as conn:
        record(conn, 2, 143240, -57296, -85944)
    assert row_counts(ledger_with_one_entry)["postings"] == 5


# --- engines -------------------------------------------------------------------------


@only_sqlite
def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(engine: Engine) -> None:
    with engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,
        "busy_timeout": 30000,
    }


@only_sqlite
def test_sqlite_writers_that_read_first_queue_instead_of_failing(engine: Engine) -> None:
    """Each writer reads the last id and inserts the next: with a deferred BEGIN the read
    lock could not be upgraded (``database is locked``); BEGIN IMMEDIATE makes them queue."""
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(10):
                with engine.begin() as conn:
                    last = conn.execute(
                        select(func.coalesce(func.max(accounts.c.id), 0))
                    ).scalar_one()
                    conn.execute(
                        insert(accounts).values(
                            id=last + 1,
                            name=f"agency:w{worker}-{i}",
                            type="asset",
                            recorded_at=RECORDED_AT,
                        )
                    )
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        assert list(conn.execute(select(accounts.c.id).order_by(accounts.c.id)).scalars()) == list(
            range(1, 61)
        )


def test_an_in_memory_sqlite_database_is_one_database_for_every_connection() -> None:
    engine = db.make_engine("sqlite:///:memory:")
    db.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == 0
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


@only_postgres
def test_each_postgres_test_works_in_its_own_schema(engine: Engine, empty_database) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_schema()")).scalar() == empty_database.schema
        tables = set(inspect(conn).get_table_names())
    assert {"entries", "postings", "alembic_version"} <= tables


def test_a_printed_url_hides_the_password() -> None:
    shown = db.display_url("postgresql+psycopg://ledger:hunter2@db.example:5432/ledger")
    assert "hunter2" not in shown
    assert shown.startswith("postgresql+psycopg://ledger:***@db.example")


# --- revisions -----------------------------------------------------------------------


def test_an_upgraded_database_is_at_the_head_revision(engine: Engine) -> None:
    newest_file = max(path.name[:4] for path in (db.MIGRATIONS_DIR / "versions").glob("0*.py"))
    assert db.head_revision() == newest_file  # a revision id is its file's number
    assert db.current_revision(engine) == db.head_revision()
    db.require_current(engine)


def test_upgrading_a_database_at_head_changes_nothing(ledger_with_one_entry: Engine) -> None:
    before = row_counts(ledger_with_one_entry)
    db.upgrade(ledger_with_one_entry)
    assert db.current_revision(ledger_with_one_entry) == db.head_revision()
    assert row_counts(ledger_with_one_entry) == before


def test_two_upgrades_at_once_both_succeed(bare_engine: Engine) -> None:
    """Two ``flexledger init`` racing: the second waits for the first, then finds the work done."""
    errors: list[BaseException] = []

    def init() -> None:
        try:
            db.upgrade(bare_engine)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=init) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.current_revision(bare_engine) == db.head_revision()


def test_the_migrations_build_exactly_the_schema_of_tables_py(engine: Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_downgrading_to_base_drops_everything_the_migrations_made(
    engine: Engine, empty_database
) -> None:
    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        if conn.dialect.name == "postgresql":
            functions = conn.execute(
                text("SELECT count(*) FROM pg_proc WHERE pronamespace = :schema ::regnamespace"),
                {"schema": empty_database.schema},
            ).scalar_one()
            assert functions == 0
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_an_empty_database_is_refused_as_not_initialised(bare_engine: Engine) -> None:
    assert db.current_revision(bare_engine) is None
    with pytest.raises(
        errors.DatabaseNotInitialised, match=rf"needs {db.head_revision()}: run `flexledger init`"
    ):
        db.require_current(bare_engine)


def test_a_database_behind_the_code_is_refused_naming_both_revisions(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    with pytest.raises(errors.DatabaseBehind) as refused:
        db.require_current(engine)
    assert str(refused.value) == (
        f"database is at revision 0001, the code needs {db.head_revision()}: run `flexledger init`"
    )


def test_a_database_at_a_revision_the_code_does_not_know_is_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(
        errors.DatabaseAhead, match="revision 9999, which this flexledger does not know"
    ):
        db.require_current(engine)
    with pytest.raises(errors.DatabaseAhead):
        db.upgrade(engine)


def test_open_engine_refuses_a_database_never_initialised(empty_database) -> None:
    with pytest.raises(errors.DatabaseNotInitialised):
        db.open_engine(Settings(database_url=empty_database.url))


def test_open_engine_opens_a_database_at_head(empty_database) -> None:
    db.upgrade(setup := empty_database.make_engine())
    setup.dispose()
    engine = db.open_engine(Settings(database_url=empty_database.url))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == 0
    engine.dispose()


def test_a_database_that_cannot_be_opened_is_reported_as_unavailable(tmp_path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'missing-directory' / 'ledger.db'}")
    with pytest.raises(errors.DatabaseUnavailable, match="cannot open sqlite:///"):
        db.require_current(engine)


# --- flexledger init -----------------------------------------------------------------


def test_flexledger_init_creates_the_tables_and_names_the_revision(
    empty_database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    assert main(["init"]) == 0
    assert capsys.readouterr().out.strip().endswith(f" at revision {db.head_revision()}")
    engine = empty_database.make_engine()
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    db.require_current(engine)
    engine.dispose()


def test_flexledger_init_twice_is_harmless(
    empty_database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    assert main(["init"]) == 0
    assert main(["init"]) == 0
    assert capsys.readouterr().out.count(f"at revision {db.head_revision()}") == 2


def test_flexledger_init_on_a_sqlite_file_prints_its_url(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", url)
    assert main(["init"]) == 0
    assert capsys.readouterr().out == f"database {url} at revision {db.head_revision()}\n"
    assert (tmp_path / "ledger.db").exists()


def test_flexledger_init_reports_a_database_it_cannot_open(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")
    assert main(["init"]) == 1
    assert capsys.readouterr().err.startswith("error: cannot open sqlite:///")
