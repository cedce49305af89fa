"""Who may read the ledger over HTTP, and what they did: tokens, revocations, access log,
and the verify runs started through the API. On the journal's ``metadata``.

Invariants and where they hold:
- append-only (triggers on SQLite and PostgreSQL, ``migrations/versions/0006_api_access.py``):
  all four tables refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL). A token is revoked
  by a new ``api_token_revocations`` row, never by changing its ``api_tokens`` row; the
  primary key on ``token_id`` makes a second revocation of the same token a no-op.
- secrets: ``api_tokens.secret_sha256`` is the SHA-256 of a 256-bit random token; the
  token itself is shown once, when it is made, and stored nowhere.
- ``access_log`` holds one row per HTTP request (who = token id, NULL when the request
  carried no known token; when; method; path without the query string; status).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from ledger.store.schema import Id, Timestamp, metadata

ROLES = ("auditor", "operator")

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, comment="who or what the token is for"),
    Column("role", String(10), nullable=False, comment="auditor | operator"),
    Column("secret_sha256", String(64), nullable=False, unique=True, comment="sha256 of the token"),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    CheckConstraint("role IN ('auditor', 'operator')", name="role"),
    comment="API tokens, stored hashed; revoked by a row in api_token_revocations",
)

api_token_revocations = Table(
    "api_token_revocations",
    metadata,
    Column("token_id", Id, ForeignKey("api_tokens.id"), primary_key=True, autoincrement=False),
    Column("revoked_at", Timestamp, nullable=False),
    comment="a token is revoked from revoked_at on; one row per token",
)

access_log = Table(
    "access_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_id", Id, comment="the token presented, if it names one (NULL: none)"),
    Column("at", Timestamp, nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", String(500), nullable=False, comment="without the query string"),
    Column("status", Integer, nullable=False),
    Index("ix_access_log_at", "at"),
    comment="every HTTP request: who, when, what and the answer's status",
)

verify_runs = Table(
    "verify_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_id", Id, ForeignKey("api_tokens.id"), nullable=False),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("entries", Integer, nullable=False),
    Column("postings", Integer, nullable=False),
    Column("anchors", Integer, nullable=False),
    Column("checkpoints", Integer, nullable=False),
    Column("first_bad_entry", Id),
    Column("problems", Text, nullable=False, comment="the first 100 problems, as JSON"),
    comment="verify runs started over the API, with their results",
)

ACCESS_APPEND_ONLY_TABLES = ("api_tokens", "api_token_revocations", "access_log", "verify_runs")
