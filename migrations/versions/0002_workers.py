"""The workers' bookkeeping: outbox, processed messages, job messages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

The tables as ``ledger/store/worker_tables.py`` first described them, copied rather than
imported so that this migration never changes. They are not append-only (the relay marks
outbox rows sent, the workers move job messages through their statuses), so they get no
triggers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False, comment="uuid5 of run and part"),
        sa.Column("queue_name", sa.String(100), nullable=False),
        sa.Column("actor_name", sa.String(100), nullable=False),
        sa.Column(
            "args", sa.Text(), nullable=False, comment="the actor's keyword arguments as JSON"
        ),
        sa.Column("run_key", sa.String(200), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("sent_at", Timestamp, comment="handed to the broker; NULL: still to relay"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
        comment="transactional outbox: rows written with their cause, relayed after commit",
    )
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_index("ix_outbox_run_key", "outbox", ["run_key"])
    op.create_table(
        "processed_messages",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("actor_name", sa.String(100), nullable=False),
        sa.Column("processed_at", Timestamp, nullable=False),
        sa.Column(
            "outcome", sa.Text(), comment="what the message did, as JSON (counts, member problems)"
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_processed_messages")),
        comment="messages whose effect is committed, written in the same transaction as it",
    )
    op.create_table(
        "job_messages",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("run_key", sa.String(200), nullable=False),
        sa.Column("job", sa.String(100), nullable=False, comment="the actor's name"),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_job_messages_status")
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_job_messages")),
        comment="status of every message of a run; failed rows are the dead-letter list",
    )
    op.create_index("ix_job_messages_run_key_status", "job_messages", ["run_key", "status"])


def downgrade() -> None:
    op.drop_index("ix_job_messages_run_key_status", table_name="job_messages")
    op.drop_table("job_messages")
    op.drop_table("processed_messages")
    op.drop_index("ix_outbox_run_key", table_name="outbox")
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.drop_table("outbox")
