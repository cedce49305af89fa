"""Exports of the whole ledger: a ledger-cli / hledger journal, and CSV postings.

Both are deterministic byte for byte for the same ledger (entries in id order, postings in
id order, recorded times in UTC with microseconds, ``\\n`` line endings) and streamed in
chunks of entries, so memory stays flat however many postings there are.

The journal keeps the ledger's account names and signs (debit positive, credit negative)
and writes amounts as ``1432.40 CNY`` — commodity after the number, two decimal places,
no digit groups — which hledger (1.25+) and ledger-cli (3.3) both parse; the
``commodity 1,000.00 CNY`` directive declares the decimal mark so neither has to guess.
Entries appear in recorded order, so a back-dated entry's date is earlier than the one
before it: both tools sort by date for their reports. Each entry's metadata are comment
tags (``; key: value``); hledger ends a tag value at a comma, ledger-cli at the line end.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import TextIO

from sqlalchemy import Connection, Row, func, select

from ledger.domain.journal import format_recorded_at
from ledger.domain.money import format_yuan
from ledger.store.tables import accounts, entries, postings

CHUNK_ENTRIES = 2_000
COMMODITY = "CNY"
CSV_COLUMNS = (
    "entry_id",
    "effective_date",
    "recorded_at",
    "kind",
    "period",
    "member_id",
    "account",
    "amount",
)


def _entry_chunks(conn: Connection) -> Iterator[Sequence[Row]]:
    """Entries in id order, ``CHUNK_ENTRIES`` at a time (keyset paging on the primary key).

    Stops at the last entry recorded when the export began, so entries appended meanwhile
    do not make an export longer than the ledger it started from.
    """
    head = conn.execute(select(func.max(entries.c.id))).scalar() or 0
    last = 0
    while last < head:
        chunk = conn.execute(
            select(entries)
            .where(entries.c.id > last, entries.c.id <= head)
            .order_by(entries.c.id)
            .limit(CHUNK_ENTRIES)
        ).all()
        if not chunk:
            return
        yield chunk
        last = chunk[-1].id


def _legs(conn: Connection, first: int, last: int) -> dict[int, list[tuple[str, int]]]:
    """(account name, amount in fen) of every posting of entries ``first..last``, by entry."""
    found: dict[int, list[tuple[str, int]]] = {}
    rows = conn.execute(
        select(postings.c.entry_id, accounts.c.name, postings.c.amount_fen)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.entry_id.between(first, last))
        .order_by(postings.c.entry_id, postings.c.id)
    )
    for entry_id, name, amount_fen in rows:
        found.setdefault(entry_id, []).append((name, amount_fen))
    return found


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def journal_entry(entry: Row, legs: list[tuple[str, int]]) -> str:
    """One entry as journal text: header, tag comments, one posting per line, blank line."""
    title = " ".join(str(part) for part in (entry.kind, entry.period, entry.member_id) if part)
    lines = [f"{entry.effective_date.isoformat()} ({entry.id}) {title}"]
    lines.append(f"    ; idempotency_key: {_one_line(entry.idempotency_key)}")
    lines.append(f"    ; recorded_at: {format_recorded_at(entry.recorded_at)}")
    lines.append(f"    ; hash: {entry.hash}")
    if entry.reason:
        lines.append(f"    ; reason: {_one_line(entry.reason)}")
    if entry.corrects is not None:
        lines.append(f"    ; corrects: {entry.corrects}")
    lines.extend(f"    {name}  {format_yuan(amount)} {COMMODITY}" for name, amount in legs)
    return "\n".join(lines) + "\n\n"


def iter_ledger(conn: Connection) -> Iterator[tuple[str, int]]:
    """The journal ``export_ledger`` writes, as (text, entries in it) chunks, for streaming."""
    yield (
        (
            "; flexledger journal: amounts in yuan, debit positive, credit negative; entries in\n"
            "; recorded order; (n) is the entry id.\n"
            f"commodity 1,000.00 {COMMODITY}\n\n"
        ),
        0,
    )
    for chunk in _entry_chunks(conn):
        legs = _legs(conn, chunk[0].id, chunk[-1].id)
        yield "".join(journal_entry(entry, legs.get(entry.id, [])) for entry in chunk), len(chunk)


def export_ledger(conn: Connection, out: TextIO) -> int:
    """Write every entry as a ledger-cli / hledger journal to ``out``; returns the entry count."""
    written = 0
    for text, count in iter_ledger(conn):
        out.write(text)
        written += count
    return written


def iter_csv(conn: Connection) -> Iterator[tuple[str, int]]:
    """The CSV ``export_csv`` writes, as (text, postings in it) chunks, for streaming."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue(), 0
    for chunk in _entry_chunks(conn):
        buffer.seek(0)
        buffer.truncate()
        written = 0
        legs = _legs(conn, chunk[0].id, chunk[-1].id)
        for entry in chunk:
            recorded = format_recorded_at(entry.recorded_at)
            for name, amount in legs.get(entry.id, []):
                writer.writerow(
                    (
                        entry.id,
                        entry.effective_date.isoformat(),
                        recorded,
                        entry.kind,
                        entry.period or "",
                        entry.member_id or "",
                        name,
                        format_yuan(amount),
                    )
                )
                written += 1
        yield buffer.getvalue(), written


def export_csv(conn: Connection, out: TextIO) -> int:
    """Write every posting as CSV (columns ``CSV_COLUMNS``, amount in yuan); returns the count.

    Rows in entry id then posting id order; empty cells for a missing period or member.
    """
    written = 0
    for text, count in iter_csv(conn):
        out.write(text)
        written += count
    return written
