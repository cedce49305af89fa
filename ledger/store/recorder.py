"""The append-only recorder: the one way entries reach the database.

What it guarantees, inside the caller's transaction:
- every draft is balanced (``EntryDraft`` refuses otherwise; PostgreSQL checks again at
  commit with a deferred constraint trigger);
- idempotency: one entry per ``idempotency_key`` (a unique index), and a key twice in one
  append is refused (``IdempotencyConflict``);
- one ``contribution`` per member, scheme and period: the partial unique index
  ``uq_entries_contribution``;
- the hash chain: entries get gapless ids in recorded order and ``hash = chain_hash(prev)``;
  appends are serialised (PostgreSQL advisory lock; SQLite ``BEGIN IMMEDIATE``) so the
  chain has one head;
- recorded times never go backwards, so "as known at T" is a prefix of the chain.

One way to append: the caller's decider reads what is recorded already (``recorded``)
and says "already done" for it; ``append`` inserts the rest, with no SAVEPOINT (on SQLite
one makes every page a statement first touches be copied to a statement journal, ≈ 4% of
a simulation). A key or month the unique indexes refuse was written meanwhile by another
writer (``WriteRaced``): the caller's transaction, part-written, is rolled back whole and
the work decided again on fresh facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Row, func, insert, select
from sqlalchemy.exc import IntegrityError

from ledger.domain.accounts import account_type
from ledger.domain.clock import Clock
from ledger.domain.errors import (
    ClockWentBackwards,
    IdempotencyConflict,
    WriteRaced,
)
from ledger.domain.journal import (
    GENESIS_HASH,
    EntryDraft,
    chain_hash,
    fingerprint_of,
    format_recorded_at,
)
from ledger.store.bulk import bulk_insert
from ledger.store.tables import accounts, entries, postings

# Any constant will do: it names the one lock that serialises appends on PostgreSQL.
APPEND_LOCK_KEY = 7_313_225_001
CHUNK = 500
KEY_CHUNK = 5000
ENTRY_COLUMNS = (
    "id",
    "kind",
    "effective_date",
    "recorded_at",
    "period",
    "member_id",
    "scheme",
    "region",
    "base_fen",
    "idempotency_key",
    "fingerprint",
    "reason",
    "corrects",
    "prev_hash",
    "hash",
)
POSTING_COLUMNS = ("entry_id", "account_id", "amount_fen", "effective_date")


@dataclass(frozen=True, slots=True)
class RecordedEntry:
    id: int
    recorded_at: datetime
    hash: str
    draft: EntryDraft
    created: bool


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Recorder:
    """Appends entries for one database; keeps a cache of account ids it has seen committed.

    The cache is filled only from rows read back from the database, and a name is trusted
    only after the transaction that created it has committed (``commit_accounts``), so a
    rolled-back transaction never leaves a dangling id behind.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._account_ids: dict[str, int] = {}
        self._pending: dict[str, int] = {}

    # ------------------------------------------------------------------ accounts

    def account_ids(self, conn: Connection, names: Iterable[str]) -> dict[str, int]:
        """Ids for ``names``, opening the accounts that do not exist yet."""
        wanted = set(names)
        found = {n: self._account_ids[n] for n in wanted if n in self._account_ids}
        found.update({n: self._pending[n] for n in wanted - found.keys() if n in self._pending})
        missing = sorted(wanted - found.keys())
        for chunk in _chunks(missing):
            for row in conn.execute(
                select(accounts.c.name, accounts.c.id).where(accounts.c.name.in_(chunk))
            ):
                found[row.name] = row.id
                self._pending[row.name] = row.id
        to_open = sorted(wanted - found.keys())
        if to_open:
            now = self.clock.now()
            conn.execute(
                insert(accounts),
                [{"name": n, "type": account_type(n).value, "recorded_at": now} for n in to_open],
            )
            for chunk in _chunks(to_open):
                for row in conn.execute(
                    select(accounts.c.name, accounts.c.id).where(accounts.c.name.in_(chunk))
                ):
                    found[row.name] = row.id
                    self._pending[row.name] = row.id
        return found

    def committed(self) -> None:
        """Call after commit: accounts seen in the transaction are now safe to cache."""
        self._account_ids.update(self._pending)
        self._pending.clear()

    def rolled_back(self) -> None:
        self._pending.clear()

    # ------------------------------------------------------------------ entries

    def recorded(
        self, conn: Connection, drafts: Sequence[EntryDraft]
    ) -> dict[str, tuple[str, RecordedEntry]]:
        """Those of ``drafts`` whose key is recorded already: the recorded fingerprint (a
        different one is the caller's to refuse) and the entry (``created`` False)."""
        by_key = {d.idempotency_key: d for d in drafts}
        found: dict[str, tuple[str, RecordedEntry]] = {}
        for chunk in _chunks(list(by_key), KEY_CHUNK):
            for row in conn.execute(
                select(
                    entries.c.id,
                    entries.c.idempotency_key,
                    entries.c.fingerprint,
                    entries.c.recorded_at,
                    entries.c.hash,
                ).where(entries.c.idempotency_key.in_(chunk))
            ):
                draft = by_key[row.idempotency_key]
                entry = RecordedEntry(row.id, _aware(row.recorded_at), row.hash, draft, False)
                found[row.idempotency_key] = (row.fingerprint, entry)
        return found

    def append(self, conn: Connection, drafts: Sequence[EntryDraft]) -> list[RecordedEntry]:
        """Record ``drafts``, which the caller found unrecorded (``recorded``) in this
        transaction: inserted with no SAVEPOINT (on SQLite one costs a copy of every page
        the insert first touches). A key or month recorded meanwhile by another writer
        raises ``WriteRaced``, and the transaction, part-written, must be rolled back."""
        if not drafts:
            return []
        head, now, ids = self._prepare(conn, drafts)
        try:
            recorded = self._insert(conn, drafts, head, now, ids)
        except IntegrityError as error:
            raise WriteRaced(f"appending {len(drafts)} entries: {error.orig}") from error
        return [recorded[d.idempotency_key] for d in drafts]

    def _prepare(
        self, conn: Connection, drafts: Sequence[EntryDraft]
    ) -> tuple[Row | None, datetime, dict[str, int]]:
        """Take the append lock; the chain's head, the time to record at and the
        accounts' ids (opened if new). Refuses a key twice in ``drafts`` and a clock
        that went back before the head."""
        self._lock(conn)
        keys = [d.idempotency_key for d in drafts]
        if len(set(keys)) != len(keys):
            seen: set[str] = set()
            for key in keys:
                if key in seen:
                    raise IdempotencyConflict(key)
                seen.add(key)
        head = conn.execute(
            select(entries.c.id, entries.c.hash, entries.c.recorded_at)
            .order_by(entries.c.id.desc())
            .limit(1)
        ).first()
        # UTC always: SQLite stores no offset, so a local time would be read back as UTC.
        now = _aware(self.clock.now()).astimezone(UTC)
        if head is not None and now < _aware(head.recorded_at):
            raise ClockWentBackwards(
                f"clock reads {now.isoformat()}, before the last entry's "
                f"{_aware(head.recorded_at).isoformat()}"
            )
        ids = self.account_ids(conn, {p.account for d in drafts for p in d.postings})
        return head, now, ids

    def _insert(
        self,
        conn: Connection,
        fresh: Sequence[EntryDraft],
        head: Row | None,
        now: datetime,
        ids: dict[str, int],
    ) -> dict[str, RecordedEntry]:
        """Chain and bulk-insert ``fresh`` after ``head`` (COPY on PostgreSQL)."""
        next_id, prev_hash = (head.id + 1, head.hash) if head else (1, GENESIS_HASH)
        stamp = format_recorded_at(now)
        entry_rows: list[tuple] = []
        posting_rows: list[tuple] = []
        recorded: dict[str, RecordedEntry] = {}
        for draft in fresh:
            canonical = draft.canonical()
            digest = chain_hash(prev_hash, next_id, stamp, canonical)
            entry_rows.append(
                (
                    next_id,
                    draft.kind.value,
                    draft.effective_date,
                    now,
                    draft.period,
                    draft.member_id,
                    draft.scheme,
                    draft.region,
                    draft.base_fen,
                    draft.idempotency_key,
                    fingerprint_of(canonical),
                    draft.reason,
                    draft.corrects,
                    prev_hash,
                    digest,
                )
            )
            posting_rows.extend(
                (next_id, ids[p.account], p.amount_fen, draft.effective_date)
                for p in draft.postings
            )
            recorded[draft.idempotency_key] = RecordedEntry(next_id, now, digest, draft, True)
            prev_hash, next_id = digest, next_id + 1
        bulk_insert(conn, entries, ENTRY_COLUMNS, entry_rows)
        bulk_insert(conn, postings, POSTING_COLUMNS, posting_rows)
        return recorded

    def _lock(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(APPEND_LOCK_KEY)))
