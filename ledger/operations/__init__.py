"""The application layer: every use case, over an open ``Connection``.

- ``services``: the ``Ledger`` facade: register, enrol, contribute, correct;
- ``imports`` and ``adjustments``: members from CSV, base adjustments after a wage is published;
- ``bank``: the yearly withholding run (委托银行代扣) and the gaps a closed year leaves;
- ``fees``: members paying through an HR company (挂靠/代缴): contributions and fees;
- ``transfers``: moving a member between regions (国办发〔2009〕66号);
- ``interest``: crediting personal accounts once a year (记账利率);
- ``pensions``, ``resident_pensions``: awards, monthly payments, deaths, short-year choices;
- ``temporary``: the temporary accounts of DOMAIN.md §5.

Each takes the caller's connection, so a worker runs one member batch in one transaction
together with its own bookkeeping (processed messages, outbox). Each is safe to run
twice: every entry's idempotency key derives from what it is about (member, scheme,
period or year, transfer), entries already recorded are looked up before anything is
recomputed, and the unique indexes under ``Recorder.append`` turn two runs racing each
other into a ``WriteRaced`` retry. No operation has tables of its own: the journal is the
record of what was done.

Shared here: the two lookups every operation starts with.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from ledger.domain.journal import EntryKind
from ledger.store.tables import entries, members

CHUNK = 500


def recorded_keys(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """The entry id of every key in ``keys`` that is already recorded."""
    wanted = sorted(set(keys))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        for row in conn.execute(
            select(entries.c.idempotency_key, entries.c.id).where(
                entries.c.idempotency_key.in_(chunk)
            )
        ):
            found[row.idempotency_key] = row.id
    return found


def registered(conn: Connection, member_ids: Iterable[str]) -> set[str]:
    """Which of ``member_ids`` are registered members."""
    wanted = sorted(set(member_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        found.update(conn.execute(select(members.c.id).where(members.c.id.in_(chunk))).scalars())
    return found


def paid_periods(conn: Connection, member_id: str, scheme: str, first: str, last: str) -> set[str]:
    """Periods ``first``..``last`` (``YYYY-MM``) with a ``contribution`` entry for the member."""
    rows = conn.execute(
        select(entries.c.period).where(
            entries.c.kind == EntryKind.CONTRIBUTION.value,
            entries.c.member_id == member_id,
            entries.c.scheme == scheme,
            entries.c.period >= first,
            entries.c.period <= last,
        )
    )
    return {row.period for row in rows}
