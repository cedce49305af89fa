"""Members paying through an HR company (挂靠/代缴, seed 004, DOMAIN.md §9).

For a month whose enrolment in force uses method ``agency``, the company pays the
month's contribution (the contribution entry debits ``agency:<company>``) and charges
its affiliate fee (``affiliate.fee``, a monthly amount per member).

Invariants and idempotency:
- the fee is the company's revenue, never a contribution: one ``fee`` entry per member
  and month, key ``fee:<month>:<member>``, debit ``agency:<company>``, credit
  ``agency-fees:<company>``; it never touches a fund, a personal account or arrears;
- the contribution is the ordinary one (key ``contribution:<period>:<member>:<scheme>``),
  posted only if the month is not paid yet;
- running a month again finds both recorded and writes nothing;
- every such arrangement stays listable for auditors
  (``ledger.store.queries.affiliated_arrangements``): paying through a company that does not
  employ you is illegal (社会保险基金行政监督办法).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, select

from ledger import keys
from ledger.errors import BadInput, NotAffiliated
from ledger.journal import EntryDraft, EntryKind, agency, agency_fees
from ledger.members import Enrolment
from ledger.money import format_yuan
from ledger.operations import enrolment_index, paid_periods, recorded_keys
from ledger.operations.bulk import enrolments_of, paid_of
from ledger.period import Month
from ledger.policy.records import AffiliateFee
from ledger.schemes import Scheme
from ledger.services import Ledger
from ledger.store.queries import Departure, departures_of
from ledger.store.recorder import RecordedEntry
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import enrolments


def charge_month(
    ledger: Ledger, conn: Connection, member_id: str, scheme: Scheme, month: Month, today: date
) -> list[RecordedEntry]:
    """Post the month's contribution paid by the company (if unpaid) and the company's fee.

    Returns the entries written now (none when the month was already charged).
    """
    if scheme.is_yearly:
        raise BadInput("scheme", f"{scheme} is paid once a year, not through an HR company")
    member = ledger.member(conn, member_id)
    found = ledger.enrolments(conn, member.id, scheme)
    enrolment = ledger.enrolment_for(found, month)
    if enrolment is None or enrolment.method != "agency" or not enrolment.agency:
        how = "not enrolled" if enrolment is None else f"paying by {enrolment.method}"
        raise NotAffiliated("member", f"{member.id} is {how} in {scheme} for {month}")
    drafts: list[EntryDraft] = []
    if not paid_periods(conn, member.id, scheme.value, str(month), str(month)):
        departed = departures_of(conn, [member.id], scheme.value).get(member.id)
        drafts.extend(ledger.contribution_drafts(member, found, scheme, month, month, today,
                                                 departed=departed))  # fmt: skip
    key = keys.fee(month, member.id)
    if not recorded_keys(conn, [key]):
        drafts.extend(fee_draft(ledger, member.id, enrolment, month, today))
    return [r for r in ledger.recorder.append(conn, drafts) if r.created]


def charge_batch(
    ledger: Ledger, conn: Connection, pairs: Sequence[str], month: Month, today: date
) -> tuple[list[EntryDraft], list[str], list[str]]:
    """``charge_month`` for many ``member/scheme`` pairs in a few queries, without appending:
    (drafts, the key each draft belongs to, pairs left for the per-member path: a member
    not enrolled (or not registered) or not paying through a company, whose refusal that
    path reports)."""
    by_scheme: defaultdict[str, list[str]] = defaultdict(list)
    for key in pairs:
        member, _, scheme = key.partition("/")
        by_scheme[scheme].append(member)
    found: dict[tuple[str, str], list[Enrolment]] = {}
    paid: dict[tuple[str, str], set[str]] = {}
    departed: dict[tuple[str, str], dict[str, Departure]] = {}
    for scheme_text, ids in by_scheme.items():
        try:
            scheme = Scheme.parse(scheme_text)
        except BadInput:
            continue
        for member, rows in enrolments_of(conn, ids, scheme).items():
            found[(member, scheme_text)] = rows
        for member, periods in paid_of(conn, ids, scheme, str(month), str(month)).items():
            paid[(member, scheme_text)] = periods
        for member, regions in departures_of(conn, ids, scheme.value).items():
            departed[(member, scheme_text)] = regions
    fees_done = recorded_keys(conn, [keys.fee(month, k.partition("/")[0]) for k in pairs])
    cache: dict = {}
    drafts: list[EntryDraft] = []
    owners: list[str] = []
    left: list[str] = []
    for key in pairs:
        member, _, scheme_text = key.partition("/")
        rows = found.get((member, scheme_text), [])
        enrolment = Ledger.enrolment_for(rows, month)
        if enrolment is None or enrolment.method != "agency" \
                or not enrolment.agency or enrolment.scheme.is_yearly:  # fmt: skip
            left.append(key)
            continue
        mine: list[EntryDraft] = []
        try:
            if str(month) not in paid.get((member, scheme_text), set()):
                mine.extend(
                    ledger.contribution_drafts(
                        member, rows, enrolment.scheme, month, month, today, cache=cache,
                        departed=departed.get((member, scheme_text)),
                    )
                )
        except BadInput:
            left.append(key)
            continue
        fee_key = keys.fee(month, member)
        if fee_key not in fees_done:
            mine.extend(fee_draft(ledger, member, enrolment, month, today, cache))
            fees_done[fee_key] = 0  # one fee per member and month, whichever scheme comes first
        drafts.extend(mine)
        owners.extend([key] * len(mine))
    return drafts, owners, left


def fee_draft(
    ledger: Ledger,
    member_id: str,
    enrolment: Enrolment,
    month: Month,
    today: date,
    cache: dict | None = None,
) -> list[EntryDraft]:
    """The company's fee for ``month`` (none where the policy fee is zero).

    Key ``fee:<month>:<member>``.
    """
    key = keys.fee(month, member_id)
    assert enrolment.agency is not None
    found = cache.get(("fee", enrolment.region, month)) if cache is not None else None
    fee = found or ledger.policy.at(AffiliateFee, month.first_day, enrolment.region)
    if cache is not None:
        cache[("fee", enrolment.region, month)] = fee
    if fee.monthly_fen == 0:
        return []
    return [
        EntryDraft.build(
            kind=EntryKind.FEE,
            effective_date=today,
            idempotency_key=key,
            reason=f"affiliate fee {month}: {format_yuan(fee.monthly_fen)} to "
            f"{enrolment.agency} ({fee.source})",
            period=str(month),
            member_id=member_id,
            region=enrolment.region,
            postings=[
                (agency(enrolment.agency), fee.monthly_fen),
                (agency_fees(enrolment.agency), -fee.monthly_fen),
            ],
        )
    ]


def agency_members(conn: Connection, month: Month) -> list[tuple[str, Scheme]]:
    """(member, scheme) of every enrolment through an HR company in force for ``month``."""
    held = enrolment_index.snapshot(conn)
    if held is not None:
        found = []
        schemes = sorted(s.value for s in Scheme)
        for member_id in sorted(held.agency):
            for scheme in schemes:
                rows = held.by_key.get((member_id, scheme), ())
                enrolment = Ledger.enrolment_for(rows, month)
                if enrolment is not None and enrolment.method == "agency":
                    found.append((member_id, Scheme(scheme)))
        return found
    with_agency = select(enrolments.c.member_id).where(enrolments.c.method == "agency")
    grouped: defaultdict[tuple[str, str], list[Enrolment]] = defaultdict(list)
    for row in conn.execute(
        select(enrolments)
        .where(enrolments.c.member_id.in_(with_agency), enrolments.c.from_month <= str(month))
        .order_by(enrolments.c.member_id, enrolments.c.scheme, enrolments.c.from_month,
                  enrolments.c.id)
    ).all():  # fmt: skip
        grouped[(row.member_id, row.scheme)].append(enrolment_from_row(row))
    found = []
    for (member_id, scheme), rows in grouped.items():
        enrolment = Ledger.enrolment_for(rows, month)
        if enrolment is not None and enrolment.method == "agency":
            found.append((member_id, Scheme(scheme)))
    return found
