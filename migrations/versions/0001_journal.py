"""The journal: members, enrolments, accounts, entries, postings, checkpoints, anchors.

Revision ID: 0001
Revises:
Create Date: 2025-11-22

The tables as ``ledger/store/tables.py`` first described them, copied rather than
imported so that this migration never changes; constraint names are spelled out (the
naming convention's output) for the same reason. Then the invariants
(``migrations/invariants.py``): the append-only triggers on both backends, the deferred
balance check on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import invariants

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("entries", "postings", "members", "enrolments", "chain_anchors")

# Ids are BIGINT on PostgreSQL and INTEGER (the rowid alias) on SQLite.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.String(18), nullable=False, comment="18-character citizen ID number"),
        sa.Column(
            "region", sa.String(6), nullable=False, comment="region of residence (GB/T 2260)"
        ),
        sa.Column("hukou", sa.String(6), nullable=False, comment="household registration region"),
        sa.Column("sex", sa.String(6), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
    )
    op.create_table(
        "enrolments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("member_id", sa.String(18), nullable=False),
        sa.Column("scheme", sa.String(20), nullable=False),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("base_percent", sa.String(12), comment="chosen base as a percent, decimal text"),
        sa.Column("base_fen", sa.BigInteger(), comment="chosen base as an amount"),
        sa.Column("grade", sa.String(12)),
        sa.Column("method", sa.String(10), nullable=False, comment="monthly | bank | agency"),
        sa.Column("agency", sa.String(100), comment="HR company, for method agency"),
        sa.Column("from_month", sa.String(7), nullable=False),
        sa.Column("to_month", sa.String(7), comment="last month enrolled, if ended"),
        sa.Column("signed_on", sa.Date(), comment="withholding agreement signed (method bank)"),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_enrolments_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolments")),
        comment="append-only: a later row for the same member and scheme supersedes from its month",
    )
    op.create_index(
        "ix_enrolments_member_scheme", "enrolments", ["member_id", "scheme", "from_month"]
    )
    op.create_table(
        "accounts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("type", sa.String(10), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "entries",
        sa.Column(
            "id", Id, autoincrement=False, nullable=False, comment="gapless, in recorded order"
        ),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.Column("period", sa.String(7), comment="contribution month YYYY-MM"),
        sa.Column("member_id", sa.String(18)),
        sa.Column("scheme", sa.String(20)),
        sa.Column("region", sa.String(6)),
        sa.Column("base_fen", sa.BigInteger(), comment="the base the period was assessed on"),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, comment="sha256 of the content"),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("corrects", Id, comment="the entry this one corrects"),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrects"], ["entries.id"], name=op.f("fk_entries_corrects_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_entries_idempotency_key")),
    )
    op.create_index("ix_entries_member_period", "entries", ["member_id", "scheme", "period"])
    op.create_index("ix_entries_recorded_at", "entries", ["recorded_at"])
    op.create_index(
        "uq_entries_contribution",
        "entries",
        ["member_id", "scheme", "period"],
        unique=True,
        sqlite_where=sa.text("kind = 'contribution'"),
        postgresql_where=sa.text("kind = 'contribution'"),
    )
    op.create_table(
        "postings",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("entry_id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column(
            "amount_fen", sa.BigInteger(), nullable=False, comment="debit positive, credit negative"
        ),
        sa.Column("effective_date", sa.Date(), nullable=False, comment="copy of the entry's"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_postings_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_postings_entry_id_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
    )
    op.create_index(
        "ix_postings_account_date",
        "postings",
        ["account_id", "effective_date", "entry_id", "amount_fen"],
    )
    op.create_index("ix_postings_account_entry", "postings", ["account_id", "entry_id"])
    op.create_index("ix_postings_entry", "postings", ["entry_id"])
    op.create_table(
        "checkpoints",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("through_entry_id", Id, nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("posting_count", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_checkpoints_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
        sa.UniqueConstraint(
            "account_id",
            "as_of",
            "through_entry_id",
            name=op.f("uq_checkpoints_account_id_as_of_through_entry_id"),
        ),
        comment=(
            "balance of account_id over postings with effective_date <= as_of and entry_id <= "
            "through_entry_id: exact for ever, since later entries only have larger ids"
        ),
    )
    op.create_table(
        "chain_anchors",
        sa.Column("entry_id", Id, autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_chain_anchors")),
        comment="published chain hashes: verify checks the chain still passes through each",
    )

    for table in APPEND_ONLY_TABLES:
        invariants.create_append_only(table)
    invariants.create_balance_check()


def downgrade() -> None:
    invariants.drop_balance_check()
    for table in APPEND_ONLY_TABLES:
        invariants.drop_append_only(table)
    invariants.drop_functions()
    op.drop_table("chain_anchors")
    op.drop_table("checkpoints")
    op.drop_index("ix_postings_entry", table_name="postings")
    op.drop_index("ix_postings_account_entry", table_name="postings")
    op.drop_index("ix_postings_account_date", table_name="postings")
    op.drop_table("postings")
    op.drop_index("uq_entries_contribution", table_name="entries")
    op.drop_index("ix_entries_recorded_at", table_name="entries")
    op.drop_index("ix_entries_member_period", table_name="entries")
    op.drop_table("entries")
    op.drop_table("accounts")
    op.drop_index("ix_enrolments_member_scheme", table_name="enrolments")
    op.drop_table("enrolments")
    op.drop_table("members")
