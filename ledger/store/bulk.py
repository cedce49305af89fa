"""Bulk inserts through the driver: the fast path for millions of rows.

SQLAlchemy's ``executemany`` builds a parameter dict per row; at simulation scale that
costs more than the database does. Here rows are tuples in column order, converted by
the column types' own bind processors (so SQLite stores dates and timestamps exactly as
SQLAlchemy would), and sent with the DBAPI's ``executemany`` on SQLite and ``COPY`` on
PostgreSQL — inside the caller's transaction, like any other statement.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table, exc


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` in the open transaction.

    The driver's errors are raised as SQLAlchemy's (``sqlalchemy.exc.IntegrityError`` for a
    unique index that refuses a row, ``OperationalError`` for a lost connection), as any
    other statement's would be, so that callers and the workers' retry policy see one kind.
    """
    if not rows:
        return
    dbapi = conn.dialect.loaded_dbapi
    try:
        _insert(conn, table, columns, rows)
    except dbapi.Error as error:
        raise exc.DBAPIError.instance(
            f"bulk insert into {table.name}", None, error, dbapi.Error, dialect=conn.dialect
        ) from error


def _insert(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    # The dialect's own processors (SQLite keeps dates and times as text in SQLAlchemy's
    # format; the driver's default adapters would write another format into the same
    # column, and text comparisons of recorded times would then go wrong). Dates and times
    # repeat by the thousand in a batch, so each distinct value is converted once.
    processors = [
        table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        for name in columns
    ]
    converting = [i for i, p in enumerate(processors) if p is not None]
    if converting:
        memo: dict[tuple[int, object], object] = {}
        converted = []
        for row in rows:
            values = list(row)
            for i in converting:
                value = values[i]
                if value is not None:
                    key = (i, value)
                    found = memo.get(key)
                    if found is None:
                        found = memo[key] = processors[i](value)  # type: ignore[misc]
                    values[i] = found
            converted.append(tuple(values))
        rows = converted
    placeholders = ", ".join("?" for _ in columns)
    cursor = raw.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})", rows)
    finally:
        cursor.close()
