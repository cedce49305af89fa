"""An index of the journal's transfer steps, by member and scheme.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Every payment path asks, for its batch of members, which regions their insurance was
transferred out of (``ledger.store.queries.departures_of``): a payment there is refused.
Transfers are rare among a member's hundreds of entries, so the question is answered
from this partial index of the transfer steps alone, a few probes per batch, instead of
reading every member's history. Its predicate is written out in the query as it is here
(literal kinds), so that SQLite and PostgreSQL can prove the index applies.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRANSFER_STEPS = "kind IN ('transfer-out', 'transfer-in', 'transfer-return')"


def upgrade() -> None:
    op.create_index(
        "ix_entries_transfers",
        "entries",
        ["member_id", "scheme"],
        sqlite_where=sa.text(TRANSFER_STEPS),
        postgresql_where=sa.text(TRANSFER_STEPS),
    )


def downgrade() -> None:
    op.drop_index("ix_entries_transfers", table_name="entries")
