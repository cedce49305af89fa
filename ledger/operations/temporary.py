"""Temporary accounts (临时基本养老保险缴费账户, 国办发〔2009〕66号 Art. 5 (2); DOMAIN.md §5).

A man of 50 or more, or a woman of 40 or more, who moves to insure outside the hukou
province keeps the pension relationship where it is and opens a temporary account in the
new place (``rules.transfer.needs_temporary_account``). In the ledger, a pension transfer
request for such a member moves no money: it records a ``temporary_accounts`` row (the
region, where the relationship stays, the first month paid there) and enrols the member
in the new place from the month after, as they were enrolled. The months paid there go to
the member's one personal account and the new place's pooling fund, as any month does;
they never make the new place the relationship's (``store.queries.pension_place_of``
leaves them out), and at retirement 12% of their bases (66号 Art. 4 (2), the transfer
rule) is collected from the temporary place's pooling fund into the paying region's
(``collect_at_award``: a ``temporary-collection`` entry per temporary place, key
``temporary-collection:<member>:<region>``).

Idempotent: one row per member, scheme and region (primary key); the same request again
writes nothing. Moving on from a temporary place to a third province is another
temporary account kept in the same place; moving back into the relationship's province is
an ordinary transfer (the temporary place's money goes back with it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, insert, select

from ledger.domain import keys
from ledger.domain.accounts import pooling
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy.loader import PolicySet
from ledger.domain.rules.benefit import age_on
from ledger.domain.rules.transfer import (
    PaidMonth,
    needs_temporary_account,
    province_of,
    transfer_out,
)
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK
from ledger.operations.services import Ledger
from ledger.store.recorder import RecordedEntry
from ledger.store.tables import entries, members, temporary_accounts

PENSION = Scheme.PENSION.value


def temporary_regions(conn: Connection, member_id: str) -> dict[str, str]:
    """The member's temporary pension accounts: region → where the relationship stays."""
    rows = conn.execute(
        select(temporary_accounts.c.region, temporary_accounts.c.kept_in).where(
            temporary_accounts.c.member_id == member_id, temporary_accounts.c.scheme == PENSION
        )
    )
    return {row.region: row.kept_in for row in rows}


def temporary_account(conn: Connection, member_id: str, region: str):
    """The member's temporary pension account in ``region`` (its row), or None."""
    return conn.execute(
        select(temporary_accounts).where(
            temporary_accounts.c.member_id == member_id,
            temporary_accounts.c.scheme == PENSION,
            temporary_accounts.c.region == region,
        )
    ).first()


@dataclass(frozen=True, slots=True)
class Mover:
    """What 66号 Art. 5 (2) asks of a member who moves: sex, hukou, date of birth."""

    sex: str
    hukou: str
    birth_date: date


def movers_of(conn: Connection, ids: Sequence[str]) -> dict[str, Mover]:
    """Each registered member's ``Mover`` facts, by id."""
    wanted = sorted(set(ids))
    return {
        row.id: Mover(row.sex, row.hukou, row.birth_date)
        for start in range(0, len(wanted), CHUNK)
        for row in conn.execute(
            select(members.c.id, members.c.sex, members.c.hukou, members.c.birth_date).where(
                members.c.id.in_(wanted[start : start + CHUNK])
            )
        )
    }


def held_of(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Each member's temporary pension accounts: member → region → where the
    relationship stays (``temporary_regions`` for many members)."""
    wanted = sorted(set(ids))
    held: dict[str, dict[str, str]] = {}
    for start in range(0, len(wanted), CHUNK):
        for row in conn.execute(
            select(temporary_accounts).where(
                temporary_accounts.c.member_id.in_(wanted[start : start + CHUNK]),
                temporary_accounts.c.scheme == PENSION,
            )
        ):
            held.setdefault(row.member_id, {})[row.region] = row.kept_in
    return held


def kept_in(
    policy: PolicySet,
    mover: Mover,
    held: Mapping[str, str],
    source: str,
    to_region: str,
    on: date,
) -> str | None:
    """Where the pension relationship stays if moving from ``source`` to ``to_region`` on
    ``on`` opens a temporary account (``held``: the member's temporary accounts), or None
    for an ordinary transfer (no I/O)."""
    relationship = held.get(source, source)
    if province_of(to_region) == province_of(relationship):
        return None  # back where the relationship is: an ordinary transfer
    years, _ = age_on(mover.birth_date, on)
    if needs_temporary_account(mover.sex, years, mover.hukou, to_region, policy, on):
        return relationship
    return None


def open_temporary(
    ledger: Ledger,
    conn: Connection,
    member_id: str,
    enrolment: Enrolment,
    to_region: str,
    kept_in: str,
    on: date,
) -> None:
    """Record the temporary account in ``to_region`` and enrol the member there from the
    month after ``on``, with the base choice and method of ``enrolment``."""
    first = Month.of(on) + 1
    ledger.enroll(
        conn,
        member_id,
        Scheme.PENSION,
        to_region,
        enrolment.choice,
        first,
        method=enrolment.method,
        agency=enrolment.agency,
    )
    if to_region in temporary_regions(conn, member_id):
        return
    conn.execute(
        insert(temporary_accounts).values(
            member_id=member_id,
            scheme=PENSION,
            region=to_region,
            kept_in=kept_in,
            opened_on=on,
            from_month=str(first),
            reason=f"moved to {to_region} on {on}, outside the hukou province at an age "
            f"from which 国办发〔2009〕66号 Art. 5 (2) applies: the relationship stays in "
            f"{kept_in}, a temporary account is opened in {to_region}",
            recorded_at=ledger.clock.now(),
        )
    )


def paid_in_temporary_places(
    conn: Connection, member_id: str, regions: Iterable[str] | None = None
) -> dict[str, list[PaidMonth]]:
    """Each of the member's temporary places (``regions``, if read already: ``held_of``)
    → the pension months paid there."""
    return {
        region: [
            PaidMonth(Month.parse(row.period), region, int(row.base_fen), 0)
            for row in conn.execute(
                select(entries.c.period, entries.c.base_fen)
                .where(
                    entries.c.member_id == member_id,
                    entries.c.scheme == PENSION,
                    entries.c.kind == EntryKind.CONTRIBUTION.value,
                    entries.c.region == region,
                )
                .order_by(entries.c.period)
            )
        ]
        for region in sorted(temporary_regions(conn, member_id) if regions is None else regions)
    }


def collection_drafts(
    policy: PolicySet,
    member_id: str,
    paying: str,
    on: date,
    paid: Mapping[str, Sequence[PaidMonth]],
) -> list[EntryDraft]:
    """At retirement, 12% of the bases paid in each temporary place (other than the
    paying region) moves from its pooling fund to the paying region's (66号 Art. 4 (2));
    ``paid``: ``paid_in_temporary_places`` (no I/O)."""
    drafts = []
    for region, months in sorted(paid.items()):
        if region == paying or not months:
            continue
        out = transfer_out(list(months), region, 0, on, policy)
        if out.pooling_moved_fen == 0:
            continue
        drafts.append(
            EntryDraft.build(
                kind=EntryKind.TEMPORARY_COLLECTION,
                effective_date=on,
                idempotency_key=keys.temporary_collection(member_id, region),
                reason=f"retired {on}: the temporary account in {region} is collected into "
                f"{paying}: {format_yuan(out.pooling_moved_fen)} = "
                f"{out.share_rate * 100:g}% of the bases of {out.months} months "
                f"({out.source})",
                member_id=member_id,
                scheme=PENSION,
                region=region,
                postings=[
                    (pooling(PENSION, region), out.pooling_moved_fen),
                    (pooling(PENSION, paying), -out.pooling_moved_fen),
                ],
            )
        )
    return drafts


def collect_at_award(
    ledger: Ledger, conn: Connection, member_id: str, paying: str, on: date
) -> list[RecordedEntry]:
    """``collection_drafts`` for one member, appended."""
    paid = paid_in_temporary_places(conn, member_id)
    drafts = collection_drafts(ledger.policy, member_id, paying, on, paid)
    found = ledger.recorder.recorded(conn, drafts)
    return ledger.recorder.append(conn, [d for d in drafts if d.idempotency_key not in found])
