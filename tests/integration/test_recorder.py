"""The recorder's idempotency on a mixed batch: it inserts optimistically and falls back to
looking the keys up only when the database refuses a row."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from ledger.domain.clock import FixedClock
from ledger.domain.errors import IdempotencyConflict, MonthAlreadyPaid
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


def test_a_batch_of_a_replay_and_a_new_draft_returns_the_original_and_records_the_new(
    engine, recorder
):
    with engine.begin() as conn:
        [first] = recorder.append(conn, [draft("2025-01")])
    with engine.begin() as conn:
        replay, new = recorder.append(conn, [draft("2025-01"), draft("2025-02")])
    assert (replay.id, replay.hash, replay.created) == (first.id, first.hash, False)
    assert new.created and new.id == first.id + 1
    assert counts(engine) == (2, 6)
    with engine.connect() as conn:
        assert verify(conn).ok


def test_a_known_key_with_other_content_is_refused_and_nothing_is_written(engine, recorder):
    with engine.begin() as conn:
        recorder.append(conn, [draft("2025-01")])
    before = counts(engine)
    with pytest.raises(IdempotencyConflict), engine.begin() as conn:
        recorder.append(conn, [draft("2025-02"), draft("2025-01", total=200_00)])
    assert counts(engine) == before


def test_a_month_already_paid_under_another_key_is_refused_by_name(engine, recorder):
    with engine.begin() as conn:
        recorder.append(conn, [draft("2025-01")])
    before = counts(engine)
    with pytest.raises(MonthAlreadyPaid, match="2025-01"), engine.begin() as conn:
        recorder.append(conn, [draft("2025-02"), draft("2025-01", key="another-key")])
    assert counts(engine) == before


def test_bulk_insert_raises_the_driver_refusal_as_sqlalchemy_integrity_error(engine):
    now = datetime(2025, 1, 1, tzinfo=UTC)
    row = ("collection:pension:110000", "collection", now)
    with engine.begin() as conn:
        bulk_insert(conn, accounts, ("name", "type", "recorded_at"), [row])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        bulk_insert(conn, accounts, ("name", "type", "recorded_at"), [row])
