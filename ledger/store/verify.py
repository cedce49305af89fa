"""Proof that nothing was changed after the fact.

``verify`` walks the journal in id order and recomputes, for every entry, the fingerprint
of its content, the chain hash from the previous entry's hash, and the sum of its
postings; then it checks every chain anchor and every balance checkpoint against the
entries. It names the first entry where anything differs. It reads in chunks, so it runs
in constant memory over any number of entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Connection, and_, func, insert, select

from ledger.domain.clock import Clock
from ledger.domain.journal import (
    GENESIS_HASH,
    canonical_of,
    chain_hash,
    fingerprint_of,
    format_recorded_at,
)
from ledger.store.tables import accounts, chain_anchors, checkpoints, entries, postings

CHUNK = 2000


@dataclass
class VerifyReport:
    entries: int = 0
    postings: int = 0
    anchors: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_entry: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, entry_id: int | None, problem: str) -> None:
        if entry_id is not None and self.first_bad_entry is None:
            self.first_bad_entry = entry_id
        self.problems.append(problem)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def verify(conn: Connection, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Recompute the chain, the balances and the stored anchors and checkpoints."""
    report = VerifyReport()
    total = conn.execute(select(func.count()).select_from(entries)).scalar_one()
    prev_hash, expected_id, last_id = GENESIS_HASH, 1, 0
    hashes_at: dict[int, str] = {}
    anchor_ids = {r.entry_id: r.hash for r in conn.execute(select(chain_anchors))}
    while True:
        rows = conn.execute(
            select(entries).where(entries.c.id > last_id).order_by(entries.c.id).limit(CHUNK)
        ).all()
        if not rows:
            break
        first, last = rows[0].id, rows[-1].id
        legs: dict[int, list[tuple[str, int]]] = {}
        for leg in conn.execute(
            select(postings.c.entry_id, accounts.c.name, postings.c.amount_fen)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(and_(postings.c.entry_id >= first, postings.c.entry_id <= last))
            .order_by(postings.c.id)
        ):
            legs.setdefault(leg.entry_id, []).append((leg.name, leg.amount_fen))
        for row in rows:
            report.entries += 1
            these = legs.get(row.id, [])
            report.postings += len(these)
            if row.id != expected_id:
                report.fail(row.id, f"entry {row.id}: expected id {expected_id}, ids have a gap")
            canonical = canonical_of(
                row.kind,
                _iso(row.effective_date),
                row.idempotency_key,
                row.reason,
                row.period,
                row.member_id,
                row.scheme,
                row.region,
                row.base_fen,
                row.corrects,
                these,
            )
            if row.prev_hash != prev_hash:
                report.fail(row.id, f"entry {row.id}: prev_hash does not match entry before it")
            stamp = format_recorded_at(_aware(row.recorded_at))
            recomputed = chain_hash(prev_hash, row.id, stamp, canonical)
            if recomputed != row.hash:
                report.fail(row.id, f"entry {row.id}: content does not match its hash")
            if fingerprint_of(canonical) != row.fingerprint:
                report.fail(row.id, f"entry {row.id}: content does not match its fingerprint")
            amount = sum(a for _, a in these)
            if len(these) < 2 or amount != 0:
                report.fail(
                    row.id, f"entry {row.id}: {len(these)} postings summing to {amount} fen"
                )
            if row.id in anchor_ids:
                hashes_at[row.id] = recomputed
            # Carry the recomputed hash forward: a changed entry breaks every later link.
            prev_hash, expected_id, last_id = recomputed, row.id + 1, row.id
        if progress:
            progress(report.entries, total)
    for entry_id, anchored in sorted(anchor_ids.items()):
        report.anchors += 1
        if hashes_at.get(entry_id) != anchored:
            report.fail(entry_id, f"anchor at entry {entry_id} does not match the chain")
    _check_checkpoints(conn, report)
    return report


def _check_checkpoints(conn: Connection, report: VerifyReport) -> None:
    for cp in conn.execute(
        select(checkpoints, accounts.c.name).join(
            accounts, accounts.c.id == checkpoints.c.account_id
        )
    ):
        report.checkpoints += 1
        actual = conn.execute(
            select(func.coalesce(func.sum(postings.c.amount_fen), 0)).where(
                postings.c.account_id == cp.account_id,
                postings.c.effective_date <= cp.as_of,
                postings.c.entry_id <= cp.through_entry_id,
            )
        ).scalar_one()
        if int(actual) != cp.balance_fen:
            report.fail(
                None,
                f"checkpoint {cp.id} ({cp.name} as of {cp.as_of} through entry "
                f"{cp.through_entry_id}) says {cp.balance_fen} fen, postings say {actual}",
            )
        if cp.last_date is None:
            continue
        last = conn.execute(
            select(func.max(postings.c.effective_date)).where(
                postings.c.account_id == cp.account_id,
                postings.c.entry_id <= cp.through_entry_id,
            )
        ).scalar()
        if last != cp.last_date:
            report.fail(
                None,
                f"checkpoint {cp.id} ({cp.name} through entry {cp.through_entry_id}) says its "
                f"last date is {cp.last_date}, postings say {last}",
            )


def anchor(conn: Connection, clock: Clock) -> tuple[int, str] | None:
    """Store the current head of the chain as an anchor; returns (entry id, hash)."""
    head = conn.execute(
        select(entries.c.id, entries.c.hash).order_by(entries.c.id.desc()).limit(1)
    ).first()
    if head is None:
        return None
    exists = conn.execute(
        select(chain_anchors.c.entry_id).where(chain_anchors.c.entry_id == head.id)
    ).first()
    if exists is None:
        conn.execute(
            insert(chain_anchors).values(entry_id=head.id, hash=head.hash, recorded_at=clock.now())
        )
    return head.id, head.hash
