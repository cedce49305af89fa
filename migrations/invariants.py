"""The ledger's invariants as database triggers, for migrations to create and recreate.

- append-only (both backends): UPDATE and DELETE on an append-only table are refused by
  ``BEFORE`` row triggers, and on PostgreSQL TRUNCATE by a ``BEFORE TRUNCATE`` statement
  trigger; the error reads ``<table> is append-only: corrections are new entries``.
- balanced (PostgreSQL): deferred constraint triggers on ``entries`` and ``postings`` check
  at COMMIT that every entry touched has at least two postings summing to zero fen: the
  one on ``entries`` catches an entry with too few or unbalanced postings, the one on
  ``postings`` a posting added later to an entry already committed. SQLite has no
  deferred triggers; there the recorder (``ledger.domain.journal.EntryDraft``) is the guard.

Both raise integrity errors (SQLSTATE 23001 and 23514 on PostgreSQL, ``RAISE(ABORT)`` on
SQLite), so SQLAlchemy reports them as ``IntegrityError`` on either backend.

Triggers belong to their table: a migration that rebuilds a table (every batch
operation on SQLite: copy into a new table, drop the old one, rename) loses them with
the old table and must call ``create_append_only(table)`` again afterwards — and
``create_balance_check()`` if it rebuilt ``entries`` or ``postings``. Every ``create_*``
drops the triggers it makes first, so calling it again is always safe. Call these only
from migrations (they use ``alembic.op``). On SQLite, mind that the engine turns foreign
keys on and ``upgrade`` runs in one transaction, where ``PRAGMA foreign_keys`` cannot
change: rebuilding a table that others reference (``entries``, ``accounts``, ``members``)
needs more care than a plain batch operation.
"""

from __future__ import annotations

from alembic import op

MESSAGE = "{table} is append-only: corrections are new entries"

_REFUSE_CHANGE = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: corrections are new entries', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$
"""

# SET search_path FROM CURRENT: the function reads the postings of the schema it was
# created in, whatever the search_path of the session that commits.
_CHECK_BALANCED = """
CREATE OR REPLACE FUNCTION ledger_check_entry_balanced() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    entry bigint;
    legs bigint;
    total numeric;
BEGIN
    IF TG_TABLE_NAME = 'entries' THEN
        entry := NEW.id;
    ELSE
        entry := NEW.entry_id;
    END IF;
    SELECT count(*), coalesce(sum(amount_fen), 0) INTO legs, total
        FROM postings WHERE entry_id = entry;
    IF legs < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'entry % is not balanced: % posting(s) summing to % fen',
            entry, legs, total
            USING ERRCODE = 'check_violation',
                  HINT = 'an entry needs at least two postings, summing to 0';
    END IF;
    RETURN NULL;
END
$$
"""


def _dialect() -> str:
    return op.get_context().dialect.name


def create_append_only(table: str) -> None:
    """Refuse UPDATE and DELETE on ``table`` (and TRUNCATE on PostgreSQL)."""
    drop_append_only(table)
    if _dialect() == "sqlite":
        message = MESSAGE.format(table=table)
        for event in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only_{event} BEFORE {event.upper()} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
    else:
        op.execute(_REFUSE_CHANGE)
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
        )


def drop_append_only(table: str) -> None:
    """Drop the triggers ``create_append_only(table)`` makes, if they exist."""
    if _dialect() == "sqlite":
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_{event}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_truncate ON {table}")


def create_balance_check() -> None:
    """On PostgreSQL, refuse at COMMIT an entry with fewer than two postings or a non-zero sum."""
    drop_balance_check()
    if _dialect() == "sqlite":
        return
    op.execute(_CHECK_BALANCED)
    for table in ("entries", "postings"):
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION ledger_check_entry_balanced()"
        )


def drop_balance_check() -> None:
    """Drop the triggers ``create_balance_check()`` makes, if they exist."""
    if _dialect() == "sqlite":
        return
    for table in ("entries", "postings"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_balanced ON {table}")


def drop_functions() -> None:
    """Drop the trigger functions, once no trigger uses them (PostgreSQL; SQLite has none)."""
    if _dialect() == "sqlite":
        return
    op.execute("DROP FUNCTION IF EXISTS ledger_check_entry_balanced()")
    op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
