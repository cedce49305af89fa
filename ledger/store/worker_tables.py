"""The workers' bookkeeping tables, on the journal's ``metadata`` (see ``workers/``).

These tables are not the ledger: they record how messages travel, so they are updated in
place (``outbox.sent_at``, ``job_messages.status``) and are not append-only. The ledger's
own invariants stay in ``entries``; what these tables add:

- ``outbox``: a message that must reach a worker is a row written in the same transaction
  as whatever caused it; ``message_id`` is unique, so writing the same run twice writes
  nothing twice; ``sent_at`` is NULL until the relay has handed the message to the broker
  (a row is sent at least once, never lost).
- ``processed_messages``: one row per message whose effect is committed, written in the
  same transaction as that effect; the primary key makes a redelivered message a no-op.
- ``job_messages``: the status of every message of a run (queued, running, done,
  failed); ``failed`` rows are the dead-letter list that ``flexledger jobs retry`` re-queues.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Index, Integer, String, Table, Text, text

from ledger.store.schema import Id, Timestamp, metadata

STATUSES = ("queued", "running", "done", "failed")

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, unique=True, comment="uuid5 of run and part"),
    Column("queue_name", String(100), nullable=False),
    Column("actor_name", String(100), nullable=False),
    Column("args", Text, nullable=False, comment="the actor's keyword arguments as JSON"),
    Column("run_key", String(200), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("sent_at", Timestamp, comment="handed to the broker; NULL: still to relay"),
    Index(
        "ix_outbox_unsent",
        "id",
        sqlite_where=text("sent_at IS NULL"),
        postgresql_where=text("sent_at IS NULL"),
    ),
    Index("ix_outbox_run_key", "run_key"),
    comment="transactional outbox: rows written with their cause, relayed after commit",
)

processed_messages = Table(
    "processed_messages",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("actor_name", String(100), nullable=False),
    Column("processed_at", Timestamp, nullable=False),
    Column("outcome", Text, comment="what the message did, as JSON (counts, member problems)"),
    comment="messages whose effect is committed, written in the same transaction as it",
)

job_messages = Table(
    "job_messages",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("run_key", String(200), nullable=False),
    Column("job", String(100), nullable=False, comment="the actor's name"),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("updated_at", Timestamp, nullable=False),
    CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
    Index("ix_job_messages_run_key_status", "run_key", "status"),
    comment="status of every message of a run; failed rows are the dead-letter list",
)

WORKER_TABLES = ("outbox", "processed_messages", "job_messages")
