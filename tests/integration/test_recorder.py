"""The recorder's contract: ``recorded`` finds what a decider must call already done, and
``append`` inserts only new entries: a key or month written meanwhile is a race
(``WriteRaced``), refused with nothing written."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from ledger.domain.clock import FixedClock
from ledger.domain.errors import IdempotencyConflict, WriteRaced
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.store.bulk import bulk_insert
from ledger.store.recorder import Recorder
from ledger.store.tables import accounts, entries, postings
from ledger.store.verify import verify
from tests.rows import row_counts

MEMBER = "11010519491231002X"


def draft(period: str, total: int = 100_00, key: str | None = None) -> EntryDraft:
    return EntryDraft.build(
        kind=EntryKind.CONTRIBUTION,
        effective_date=date.fromisoformat(f"{period}-15"),
        idempotency_key=key or f"contribution:{period}:{MEMBER}:pension",
        period=period,
        member_id=MEMBER,
        scheme="pension",
        region="110000",
        postings=[
            ("collection:pension:110000", total),
            (f"personal:pension:{MEMBER}", -(total * 2 // 5)),
            ("pooling:pension:110000", total * 2 // 5 - total),
        ],
    )


def counts(engine) -> tuple[int, ...]:
    return row_counts(engine, entries, postings)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(FixedClock(datetime(2025, 3, 1, tzinfo=UTC)))


def test_recorded_finds_a_replay_with_its_fingerprint_and_the_original_entry(engine, recorder):
    with engine.begin() as conn:
        [first] = recorder.append(conn, [draft("2025-01")])
    with engine.connect() as conn:
        found = recorder.recorded(conn, [draft("2025-01"), draft("2025-02")])
    assert list(found) == [f"contribution:2025-01:{MEMBER}:pension"]
    fingerprint, entry = found[f"contribution:2025-01:{MEMBER}:pension"]
    assert fingerprint == draft("2025-01").fingerprint() != draft("2025-01", 200_00).fingerprint()
    assert (entry.id, entry.hash, entry.created) == (first.id, first.hash, False)


def test_new_drafts_are_chained_after_the_head_in_order(engine, recorder):
    with engine.begin() as conn:
        [first] = recorder.append(conn, [draft("2025-01")])
    with engine.begin() as conn:
        second, third = recorder.append(conn, [draft("2025-02"), draft("2025-03")])
    assert (second.id, third.id) == (first.id + 1, first.id + 2)
    assert second.created and third.created
    assert counts(engine) == (3, 9)
    with engine.connect() as conn:
        assert verify(conn).ok


def test_a_key_recorded_meanwhile_is_a_race_and_nothing_is_written(engine, recorder):
    with engine.begin() as conn:
        recorder.append(conn, [draft("2025-01")])
    before = counts(engine)
    with pytest.raises(WriteRaced), engine.begin() as conn:
        recorder.append(conn, [draft("2025-02"), draft("2025-01", total=200_00)])
    assert counts(engine) == before


def test_a_month_paid_meanwhile_under_another_key_is_a_race_and_nothing_is_written(
    engine, recorder
):
    with engine.begin() as conn:
        recorder.append(conn, [draft("2025-01")])
    before = counts(engine)
    with pytest.raises(
        WriteRaced, match=r"uq_entries_contribution|UNIQUE constraint failed: entries\.member_id"
    ):
        with engine.begin() as conn:
            recorder.append(conn, [draft("2025-02"), draft("2025-01", key="another-key")])
    assert counts(engine) == before


def test_a_key_twice_in_one_append_is_refused_by_name(engine, recorder):
    with pytest.raises(IdempotencyConflict, match="2025-01"), engine.begin() as conn:
        recorder.append(conn, [draft("2025-01"), draft("2025-01", total=200_00)])
    assert counts(engine) == (0, 0)


def test_bulk_insert_raises_the_driver_refusal_as_sqlalchemy_integrity_error(engine):
    now = datetime(2025, 1, 1, tzinfo=UTC)
    row = ("collection:pension:110000", "collection", now)
    with engine.begin() as conn:
        bulk_insert(conn, accounts, ("name", "type", "recorded_at"), [row])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        bulk_insert(conn, accounts, ("name", "type", "recorded_at"), [row])
