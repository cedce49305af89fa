"""The schema, as SQLAlchemy Core tables. ``entries`` and ``postings`` are part of the
product: auditors query them with SQL (see docs/SCHEMA.md).

Invariants and where they hold:
- append-only: ``entries``, ``postings``, ``members``, ``enrolments``, ``chain_anchors``
  refuse UPDATE and DELETE by trigger on SQLite and PostgreSQL (and TRUNCATE on PostgreSQL);
  created in the migrations, recreated by any migration that rebuilds a table;
- balanced: every entry's postings sum to zero — a deferred constraint trigger on
  PostgreSQL, the recorder everywhere (``ledger.domain.journal.EntryDraft``);
- idempotent: ``entries.idempotency_key`` is unique; one ``contribution`` entry per
  member, scheme and period (partial unique index ``uq_entries_contribution``);
- tamper-evident: ``entries.hash`` chains every entry to the one before it;
- ``postings.effective_date`` and ``postings.entry_id`` copy the entry's, so that a
  point-in-time balance reads one index (both are immutable, so the copies cannot drift).

Months are stored as ``YYYY-MM`` text, dates as DATE, recorded times as timezone-aware
timestamps (UTC), money as BIGINT fen.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from ledger.store.schema import Id, Timestamp, metadata

members = Table(
    "members",
    metadata,
    Column("id", String(18), primary_key=True, comment="18-character citizen ID number"),
    Column("region", String(6), nullable=False, comment="region of residence (GB/T 2260)"),
    Column("hukou", String(6), nullable=False, comment="household registration region"),
    Column("sex", String(6), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
)

enrolments = Table(
    "enrolments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("member_id", String(18), ForeignKey("members.id"), nullable=False),
    Column("scheme", String(20), nullable=False),
    Column("region", String(6), nullable=False),
    Column("base_percent", String(12), comment="chosen base as a percent, decimal text"),
    Column("base_fen", BigInteger, comment="chosen base as an amount"),
    Column("grade", String(12)),
    Column("method", String(10), nullable=False, comment="monthly | bank | agency"),
    Column("agency", String(100), comment="HR company, for method agency"),
    Column("from_month", String(7), nullable=False),
    Column("to_month", String(7), comment="last month enrolled, if ended"),
    Column("signed_on", Date, comment="withholding agreement signed (method bank)"),
    Column("recorded_at", Timestamp, nullable=False),
    Index("ix_enrolments_member_scheme", "member_id", "scheme", "from_month"),
    comment="append-only: a later row for the same member and scheme supersedes from its month",
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(120), nullable=False, unique=True),
    Column("type", String(10), nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
)

TRANSFER_STEPS = "kind IN ('transfer-out', 'transfer-in', 'transfer-return')"

entries = Table(
    "entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False, comment="gapless, in recorded order"),
    Column("kind", String(20), nullable=False),
    Column("effective_date", Date, nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
    Column("period", String(7), comment="contribution month YYYY-MM"),
    Column("member_id", String(18)),
    Column("scheme", String(20)),
    Column("region", String(6)),
    Column("base_fen", BigInteger, comment="the base the period was assessed on"),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False, comment="sha256 of the content"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("corrects", Id, ForeignKey("entries.id"), comment="the entry this one corrects"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_entries_member_period", "member_id", "scheme", "period"),
    Index("ix_entries_recorded_at", "recorded_at"),
    # The transfer steps by member (migration 0005): ``queries.departures_of`` writes the
    # same literal predicate, so that both backends use it.
    Index(
        "ix_entries_transfers",
        "member_id",
        "scheme",
        sqlite_where=text(TRANSFER_STEPS),
        postgresql_where=text(TRANSFER_STEPS),
    ),
    Index(
        "uq_entries_contribution",
        "member_id",
        "scheme",
        "period",
        unique=True,
        sqlite_where=text("kind = 'contribution'"),
        postgresql_where=text("kind = 'contribution'"),
    ),
)

postings = Table(
    "postings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entry_id", Id, ForeignKey("entries.id"), nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("amount_fen", BigInteger, nullable=False, comment="debit positive, credit negative"),
    Column("effective_date", Date, nullable=False, comment="copy of the entry's"),
    Index("ix_postings_account_date", "account_id", "effective_date", "entry_id", "amount_fen"),
    # Covering: a balance as known at a time reads the entries recorded after a checkpoint
    # (an entry-id range) and needs their dates and amounts without visiting the rows.
    Index("ix_postings_account_entry", "account_id", "entry_id", "effective_date", "amount_fen"),
    Index("ix_postings_entry", "entry_id"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("through_entry_id", Id, nullable=False),
    Column("balance_fen", BigInteger, nullable=False),
    Column("posting_count", BigInteger, nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
    Column(
        "last_date",
        Date,
        comment="latest effective_date of the account's postings through the id",
    ),
    UniqueConstraint("account_id", "as_of", "through_entry_id"),
    Index(
        "ix_checkpoints_account_id_through_entry_id_as_of",
        "account_id",
        "through_entry_id",
        "as_of",
    ),
    comment=(
        "balance of account_id over postings with effective_date <= as_of and entry_id <= "
        "through_entry_id: exact for ever, since later entries only have larger ids"
    ),
)

chain_anchors = Table(
    "chain_anchors",
    metadata,
    Column("entry_id", Id, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
    comment="published chain hashes: verify checks the chain still passes through each",
)

simulations = Table(
    "simulations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("seed", BigInteger, nullable=False),
    Column("members", Integer, nullable=False),
    Column("first_month", String(7), nullable=False),
    Column("last_month", String(7), nullable=False),
    Column("scenario", Text, nullable=False, comment="the scenario, as JSON"),
    Column("recorded_at", Timestamp, nullable=False),
    comment="the simulation that wrote this ledger: its entries are recorded at the story's "
    "time, and only such a ledger takes a message that carries one",
)

bank_settlements = Table(
    "bank_settlements",
    metadata,
    Column("reference", String(200), primary_key=True),
    Column("member_id", String(18), nullable=False),
    Column("scheme", String(30), nullable=False),
    Column("bank_ref", String(100), nullable=False),
    Column("settled_fen", BigInteger, nullable=False, comment="what the bank collected"),
    Column("due_fen", BigInteger, nullable=False, comment="what the months due still cost"),
    Column("recorded_at", Timestamp, nullable=False),
    comment="bank deductions the ledger has recorded, by reference: a run that finds its "
    "reference here has nothing left to collect or to refund for it",
)

pension_awards = Table(
    "pension_awards",
    metadata,
    Column("member_id", String(18), primary_key=True),
    Column("scheme", String(20), primary_key=True),
    Column("region", String(6), nullable=False, comment="the region that pays"),
    Column("retired_on", Date, nullable=False),
    Column("first_month", String(7), nullable=False, comment="first month paid"),
    Column("age_years", Integer, nullable=False),
    Column("age_extra_months", Integer, nullable=False),
    Column("months_counted", Integer, nullable=False),
    Column("minimum_months", Integer, nullable=False),
    Column(
        "index_sum",
        String(200),
        nullable=False,
        comment="sum of the months' indices, an exact fraction n/d",
    ),
    Column(
        "average_index",
        String(200),
        nullable=False,
        comment="index_sum / months_counted, an exact fraction n/d",
    ),
    Column("calculation_base_fen", BigInteger, nullable=False),
    Column("personal_balance_fen", BigInteger, nullable=False),
    Column("divisor", String(40), nullable=False, comment="months, exact n/d"),
    Column("basic_fen", BigInteger, nullable=False),
    Column("personal_fen", BigInteger, nullable=False),
    Column("total_fen", BigInteger, nullable=False),
    Column(
        "inputs",
        Text,
        nullable=False,
        comment="JSON: months by year with bases, average wages and sources",
    ),
    Column("sources", Text, nullable=False, comment="the rules' sources"),
    Column("recorded_at", Timestamp, nullable=False),
    comment="a pension awarded at retirement, with every input: recomputable from the row",
)

benefit_events = Table(
    "benefit_events",
    metadata,
    Column("member_id", String(18), primary_key=True),
    Column("kind", String(20), primary_key=True, comment="death | short-of-minimum"),
    Column("on_date", Date, nullable=False),
    Column("choice", String(20), comment="pay-on | resident | refund"),
    Column("detail", Text, nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
    comment="a death, or the choice of a member short of the minimum months: once each",
)

temporary_accounts = Table(
    "temporary_accounts",
    metadata,
    Column("member_id", String(18), primary_key=True),
    Column("scheme", String(20), primary_key=True),
    Column("region", String(6), primary_key=True, comment="where the temporary account is"),
    Column("kept_in", String(6), nullable=False, comment="where the relationship stays"),
    Column("opened_on", Date, nullable=False),
    Column("from_month", String(7), nullable=False, comment="first month paid there"),
    Column("reason", Text, nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
    comment="国办发〔2009〕66号 Art. 5 (2): a member moving at 50 (men) or 40 (women) outside "
    "the hukou province keeps the relationship and pays into a temporary account",
)

APPEND_ONLY_TABLES = (
    "entries",
    "postings",
    "members",
    "enrolments",
    "chain_anchors",
    "simulations",
    "bank_settlements",
    "pension_awards",
    "benefit_events",
    "temporary_accounts",
)
