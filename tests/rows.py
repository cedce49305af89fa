"""Row counts for tests that prove a refused command wrote nothing."""

from __future__ import annotations

from sqlalchemy import Engine, Table, func, select


def row_counts(engine: Engine, *tables: Table) -> tuple[int, ...]:
    """How many rows each of ``tables`` holds, in order."""
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables)
