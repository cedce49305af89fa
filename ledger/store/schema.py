"""What every table of the ledger shares: one ``MetaData`` with its naming convention, and
the id and timestamp column types. Each group of tables is defined in its own module
(``tables``: the journal and members; ``access_tables``: API tokens and the access log;
``worker_tables``: messages); ``ledger.store.catalog`` gathers them all.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, DateTime, Integer, MetaData

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# Ids are BIGINT on PostgreSQL and INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)
