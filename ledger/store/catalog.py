"""Every table the ledger has, in one ``MetaData``: what migrations are checked against
and what database roles are granted on. Importing this module registers them all."""

from __future__ import annotations

from ledger.store import access_tables, tables, worker_tables
from ledger.store.schema import metadata

__all__ = ["access_tables", "metadata", "tables", "worker_tables"]
