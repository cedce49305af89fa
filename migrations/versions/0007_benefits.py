"""The benefit phase: pension awards and the recorded decisions of a member's benefit life.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

``pension_awards``: one row per member awarded a pension at retirement, holding every input
of the award (months counted, the average contribution index as an exact fraction, the
calculation base of the retirement year, the personal-account balance, the divisor) with
the rule's sources, so that an auditor recomputes the figures from the row alone.
``benefit_events``: the recorded decisions and facts that change a benefit: a death, the
explicit choice of a member short of the minimum months. ``temporary_accounts``: the
temporary accounts (临时缴费账户) of members who moved at 50 / 40 outside their hukou
province (国办发〔2009〕66号 Art. 5 (2)). All append-only, like the journal. Copied from
``ledger/store/tables.py`` rather than imported, so this migration never changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import invariants

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pension_awards",
        sa.Column("member_id", sa.String(18), nullable=False),
        sa.Column("scheme", sa.String(20), nullable=False),
        sa.Column("region", sa.String(6), nullable=False, comment="the region that pays"),
        sa.Column("retired_on", sa.Date(), nullable=False),
        sa.Column("first_month", sa.String(7), nullable=False, comment="first month paid"),
        sa.Column("age_years", sa.Integer(), nullable=False),
        sa.Column("age_extra_months", sa.Integer(), nullable=False),
        sa.Column("months_counted", sa.Integer(), nullable=False),
        sa.Column("minimum_months", sa.Integer(), nullable=False),
        sa.Column(
            "index_sum",
            sa.String(200),
            nullable=False,
            comment="sum of the months' indices, an exact fraction n/d",
        ),
        sa.Column(
            "average_index",
            sa.String(200),
            nullable=False,
            comment="index_sum / months_counted, an exact fraction n/d",
        ),
        sa.Column("calculation_base_fen", sa.BigInteger(), nullable=False),
        sa.Column("personal_balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("divisor", sa.String(40), nullable=False, comment="months, exact n/d"),
        sa.Column("basic_fen", sa.BigInteger(), nullable=False),
        sa.Column("personal_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "inputs",
            sa.Text(),
            nullable=False,
            comment="JSON: months by year with bases, average wages and sources",
        ),
        sa.Column("sources", sa.Text(), nullable=False, comment="the rules' sources"),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("member_id", "scheme", name=op.f("pk_pension_awards")),
        comment="a pension awarded at retirement, with every input: recomputable from the row",
    )
    invariants.create_append_only("pension_awards")
    op.create_table(
        "benefit_events",
        sa.Column("member_id", sa.String(18), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False, comment="death | short-of-minimum"),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("choice", sa.String(20), comment="pay-on | resident | refund"),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("member_id", "kind", name=op.f("pk_benefit_events")),
        comment="a death, or the choice of a member short of the minimum months: once each",
    )
    invariants.create_append_only("benefit_events")
    op.create_table(
        "temporary_accounts",
        sa.Column("member_id", sa.String(18), nullable=False),
        sa.Column("scheme", sa.String(20), nullable=False),
        sa.Column("region", sa.String(6), nullable=False, comment="where the temporary account is"),
        sa.Column("kept_in", sa.String(6), nullable=False, comment="where the relationship stays"),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("from_month", sa.String(7), nullable=False, comment="first month paid there"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint(
            "member_id", "scheme", "region", name=op.f("pk_temporary_accounts")
        ),
        comment="国办发〔2009〕66号 Art. 5 (2): a member moving at 50 (men) or 40 (women) "
        "outside the hukou province keeps the relationship and pays into a temporary account",
    )
    invariants.create_append_only("temporary_accounts")


def downgrade() -> None:
    invariants.drop_append_only("temporary_accounts")
    op.drop_table("temporary_accounts")
    invariants.drop_append_only("benefit_events")
    op.drop_table("benefit_events")
    invariants.drop_append_only("pension_awards")
    op.drop_table("pension_awards")
