"""The simulation that wrote a ledger, if one did.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

A simulation's messages carry the story's time, and the workers record their entries at
that time; a production ledger must never take such a message (a forged future time would
block every real append until then). This table says which ledgers are simulations, and
what made them: seed, population, months and scenario. Append-only, like the journal.
Copied from ``ledger/store/tables.py`` rather than imported, so this migration never
changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import invariants

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "simulations",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("first_month", sa.String(7), nullable=False),
        sa.Column("last_month", sa.String(7), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False, comment="the scenario, as JSON"),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulations")),
        comment="the simulation that wrote this ledger: its entries are recorded at the "
        "story's time, and only such a ledger takes a message that carries one",
    )
    invariants.create_append_only("simulations")


def downgrade() -> None:
    invariants.drop_append_only("simulations")
    op.drop_table("simulations")
