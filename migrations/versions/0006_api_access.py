"""Who may read the ledger over HTTP: tokens, their revocations, the access log, verify runs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

``flexledger serve`` answers only requests that carry a token made by ``flexledger token
add``; the token is stored as its SHA-256, and revoked by a new row, never by an update.
Every request is a row of ``access_log``; a verify run started over the API is a row of
``verify_runs``. All four tables are append-only, by the same triggers as the journal.
Copied from ``ledger/store/access_tables.py`` rather than imported, so this migration
never changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import invariants

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

TABLES = ("api_tokens", "api_token_revocations", "access_log", "verify_runs")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False, comment="who or what the token is for"),
        sa.Column("role", sa.String(10), nullable=False, comment="auditor | operator"),
        sa.Column("secret_sha256", sa.String(64), nullable=False, comment="sha256 of the token"),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.CheckConstraint("role IN ('auditor', 'operator')", name=op.f("ck_api_tokens_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_api_tokens_secret_sha256")),
        comment="API tokens, stored hashed; revoked by a row in api_token_revocations",
    )
    op.create_table(
        "api_token_revocations",
        sa.Column("token_id", Id, autoincrement=False, nullable=False),
        sa.Column("revoked_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_api_token_revocations_token_id_api_tokens"),
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_token_revocations")),
        comment="a token is revoked from revoked_at on; one row per token",
    )
    op.create_table(
        "access_log",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("token_id", Id, comment="the token presented, if it names one (NULL: none)"),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(500), nullable=False, comment="without the query string"),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
        comment="every HTTP request: who, when, what and the answer's status",
    )
    op.create_index("ix_access_log_at", "access_log", ["at"])
    op.create_table(
        "verify_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("token_id", Id, nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("postings", sa.Integer(), nullable=False),
        sa.Column("anchors", sa.Integer(), nullable=False),
        sa.Column("checkpoints", sa.Integer(), nullable=False),
        sa.Column("first_bad_entry", Id),
        sa.Column("problems", sa.Text(), nullable=False, comment="the first 100 problems, as JSON"),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_verify_runs_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verify_runs")),
        comment="verify runs started over the API, with their results",
    )
    for table in TABLES:
        invariants.create_append_only(table)


def downgrade() -> None:
    for table in TABLES:
        invariants.drop_append_only(table)
    op.drop_table("verify_runs")
    op.drop_index("ix_access_log_at", table_name="access_log")
    op.drop_table("access_log")
    op.drop_table("api_token_revocations")
    op.drop_table("api_tokens")
