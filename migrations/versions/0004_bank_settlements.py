"""Bank deductions the ledger has recorded, by the bank's reference.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

A bank run charges the member, then records the months in the message's transaction. If
that commit is lost and the member pays a month before the retry, the retry must neither
charge again nor lose the money already taken: it reuses the run's reference (the bank
answers it with its first result, amount included), records the months still due and the
rest as an overpayment to refund. This table says which references are recorded, so that
a run finding its reference here leaves it alone. Append-only, like the journal.
Copied from ``ledger/store/tables.py`` rather than imported, so this migration never
changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import invariants

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bank_settlements",
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("member_id", sa.String(18), nullable=False),
        sa.Column("scheme", sa.String(30), nullable=False),
        sa.Column("bank_ref", sa.String(100), nullable=False),
        sa.Column(
            "settled_fen", sa.BigInteger(), nullable=False, comment="what the bank collected"
        ),
        sa.Column(
            "due_fen", sa.BigInteger(), nullable=False, comment="what the months due still cost"
        ),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_bank_settlements")),
        comment="bank deductions the ledger has recorded, by reference: a run that finds its "
        "reference here has nothing left to collect or to refund for it",
    )
    invariants.create_append_only("bank_settlements")


def downgrade() -> None:
    invariants.drop_append_only("bank_settlements")
    op.drop_table("bank_settlements")
