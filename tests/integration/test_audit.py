"""What auditors rely on: late announcements adjusted by new entries, imports all-or-nothing,
and ``verify`` naming the first entry changed behind the database's back."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from ledger.domain.clock import FixedClock
from ledger.domain.errors import ImportRejected
from ledger.domain.identity import check_character
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice, assess
from ledger.domain.schemes import Scheme
from ledger.operations.adjustments import post_adjustments
from ledger.operations.imports import import_members
from ledger.operations.payments import contribute
from ledger.operations.services import Ledger
from ledger.store.tables import accounts, enrolments, entries, members, postings
from ledger.store.verify import anchor, verify
from tests.rows import row_counts

MEMBER = "11010519491231002X"
BEIJING = "110000"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def account_sum(engine, name: str, known_at: datetime | None = None) -> int:
    query = (
        select(func.coalesce(func.sum(postings.c.amount_fen), 0))
        .join(accounts, accounts.c.id == postings.c.account_id)
        .join(entries, entries.c.id == postings.c.entry_id)
        .where(accounts.c.name == name)
    )
    if known_at is not None:
        query = query.where(entries.c.recorded_at <= known_at)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_a_late_base_is_adjusted_by_new_entries_and_the_old_view_stays(engine):
    """Beijing published its 2025 base on 2025-09-18, effective 2025-07-01
    (京人社发〔2025〕11号): months paid before then are adjusted, never edited."""
    clock = FixedClock(at(2025, 8, 20, 10))
    ledger = Ledger(engine, clock)
    choice = BaseChoice.of(percent="60")
    old = assess(
        ledger.policy, BEIJING, Scheme.PENSION, Month(2025, 7), choice, known_at=date(2025, 9, 17)
    )
    new = assess(ledger.policy, BEIJING, Scheme.PENSION, Month(2025, 7), choice)
    assert old.base_fen != new.base_fen
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, BEIJING)
        ledger.enroll(conn, MEMBER, Scheme.PENSION, BEIJING, choice, Month(2025, 7))
        paid = contribute(
            ledger, conn, MEMBER, Scheme.PENSION, Month(2025, 7), Month(2025, 8), date(2025, 8, 20)
        )
    assert [r.draft.base_fen for r in paid] == [old.base_fen, old.base_fen]

    clock.advance_to(at(2025, 10, 1, 9))
    with ledger.unit_of_work() as conn:
        # limited to another day's publications, the run finds nothing to adjust
        assert post_adjustments(ledger, conn, published_on=date(2025, 9, 17)) == []
        adjusted = post_adjustments(ledger, conn, published_on=date(2025, 9, 18))
    assert [r.draft.kind for r in adjusted] == [EntryKind.ADJUSTMENT] * 2
    assert all(r.draft.corrects is None and r.draft.base_fen == new.base_fen for r in adjusted)

    personal = f"personal:pension:{MEMBER}"
    # 8% of the base, two months: the old view before the adjustments, the new one after.
    assert account_sum(engine, personal, known_at=at(2025, 9, 30)) == -2 * old.personal_fen
    assert account_sum(engine, personal) == -2 * new.personal_fen
    assert account_sum(engine, f"arrears:pension:{MEMBER}") == 2 * (new.total_fen - old.total_fen)
    with ledger.unit_of_work() as conn:
        again = post_adjustments(ledger, conn)
    assert not any(r.created for r in again)


def write_csv(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "members.csv"
    path.write_text("id,region,scheme,base_percent,from,method,agency\n" + "\n".join(rows) + "\n")
    return path


def valid_id(first17: str) -> str:
    return first17 + check_character(first17)


def table_counts(engine) -> tuple[int, ...]:
    return row_counts(engine, members, enrolments)


def test_an_import_registers_and_enrols_every_row(engine, tmp_path):
    ledger = Ledger(engine, FixedClock(at(2026, 1, 5)))
    path = write_csv(
        tmp_path,
        f"{MEMBER},110000,pension,60,2025-07,monthly,",
        f"{MEMBER},110000,medical,,2025-07,monthly,",
        f"{valid_id('31011519800101001')},310000,pension,100,2025-07,agency,acme-hr",
    )
    with ledger.unit_of_work() as conn:
        result = import_members(ledger, conn, path)
    assert (result.members, result.enrolments) == (2, 3)
    assert table_counts(engine) == (2, 3)


def test_an_import_with_bad_rows_names_each_line_and_writes_nothing(engine, tmp_path):
    ledger = Ledger(engine, FixedClock(at(2026, 1, 5)))
    path = write_csv(
        tmp_path,
        f"{MEMBER},110000,pension,60,2025-07,monthly,",
        "110105194912310021,110000,pension,60,2025-07,monthly,",
        f"{valid_id('31011519800101001')},310000,pension,400,2025-07,monthly,",
        f"{valid_id('31011519800101003')},310000,pension,60,2025-07,agency,",
        f"{valid_id('31011519800101005')},999999,pension,60,2025-07,monthly,",
    )
    with pytest.raises(ImportRejected) as caught, ledger.unit_of_work() as conn:
        import_members(ledger, conn, path)
    lines = [p.split(":")[0] for p in caught.value.problems]
    assert lines == ["line 3", "line 4", "line 5", "line 6"]
    assert "check character" in caught.value.problems[0]
    assert "ceiling" in caught.value.problems[1]
    assert "agency" in caught.value.problems[2]
    assert "region" in caught.value.problems[3]
    assert table_counts(engine) == (0, 0)


def post_some(engine) -> Ledger:
    ledger = Ledger(engine, FixedClock(at(2026, 1, 5)))
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, BEIJING)
        ledger.enroll(
            conn, MEMBER, Scheme.PENSION, BEIJING, BaseChoice.of(percent="100"), Month(2025, 7)
        )
        contribute(
            ledger,
            conn,
            MEMBER,
            Scheme.PENSION,
            Month(2025, 7),
            Month(2025, 12),
            date(2025, 12, 30),
        )
    return ledger


def test_verify_passes_on_an_untouched_ledger(engine):
    ledger = post_some(engine)
    with ledger.unit_of_work() as conn:
        anchor(conn, ledger.clock)
    with engine.connect() as conn:
        report = verify(conn)
    assert report.ok, report.problems
    assert (report.entries, report.postings, report.anchors) == (6, 18, 1)


def _tamper(engine, statement: str) -> None:
    """Change a row behind the append-only triggers' back, as a superuser could."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(statement))
        else:
            names = [
                r[0]
                for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            ]
            sql = {
                r[0]: r[1]
                for r in conn.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
                )
            }
            for name in names:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
            conn.execute(text(statement))
            for name in names:
                conn.execute(text(sql[name]))


def test_verify_names_the_first_entry_whose_posting_was_altered(engine):
    post_some(engine)
    _tamper(
        engine,
        "UPDATE postings SET amount_fen = amount_fen + 1 WHERE entry_id = 3 AND amount_fen > 0",
    )
    with engine.connect() as conn:
        report = verify(conn)
    assert not report.ok
    assert report.first_bad_entry == 3


def test_verify_names_an_entry_whose_reason_was_rewritten(engine):
    post_some(engine)
    _tamper(engine, "UPDATE entries SET reason = 'nothing to see' WHERE id = 5")
    with engine.connect() as conn:
        report = verify(conn)
    assert report.first_bad_entry == 5


def test_verify_detects_a_rewritten_chain_against_its_anchor(engine):
    ledger = post_some(engine)
    with ledger.unit_of_work() as conn:
        anchor(conn, ledger.clock)
    # Rewrite the last entry's hash consistently: the chain alone now looks whole,
    # but the published anchor no longer matches.
    _tamper(engine, "UPDATE entries SET reason = 'x' WHERE id = 6")
    with engine.connect() as conn:
        report = verify(conn)
    assert not report.ok
    assert any("anchor" in p for p in report.problems)
