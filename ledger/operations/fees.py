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

One path for one member and for ten thousand: ``load`` the facts of a batch (a few
queries), ``decide`` in a pure function (per item: the drafts, the refusal and its rule,
or already done), append once (``charge``). ``charge_month`` is a batch of one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from ledger.domain import keys
from ledger.domain.accounts import agency, agency_fees
from ledger.domain.errors import (
    BadInput,
    LedgerError,
    NotAffiliated,
    UnknownMember,
)
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy.records import AffiliateFee
from ledger.domain.schemes import Scheme
from ledger.operations import recorded_keys, registered
from ledger.operations.bulk import enrolments_of, paid_of
from ledger.operations.services import Ledger
from ledger.store import enrolment_index
from ledger.store.queries import Departure, departures_of
from ledger.store.recorder import RecordedEntry
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import enrolments

Item = tuple[str, Scheme]
"""One thing to charge: a member's month in one scheme."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What charging ``month`` needs to know of a batch of members, loaded in a few
    queries whatever the batch's size (``load``)."""

    month: Month
    registered: frozenset[str]
    enrolments: Mapping[Item, Sequence[Enrolment]]
    paid: Mapping[Item, frozenset[str]]
    departed: Mapping[Item, Mapping[str, Departure]]
    fees_recorded: frozenset[str]


@dataclass(frozen=True, slots=True)
class Decision:
    """What charging one item comes to: the entries to append, or the rule that refused
    it, or neither (everything was recorded before: already done)."""

    item: Item
    drafts: tuple[EntryDraft, ...] = ()
    refused: LedgerError | None = None


@dataclass(frozen=True, slots=True)
class Charged:
    """A decision once appended: ``created`` are the entries written now."""

    decision: Decision
    created: tuple[RecordedEntry, ...] = ()


def load(conn: Connection, items: Sequence[Item], month: Month) -> Facts:
    """The facts ``decide`` needs for ``items``: a few queries for the whole batch."""
    by_scheme: defaultdict[Scheme, list[str]] = defaultdict(list)
    for member, scheme in items:
        by_scheme[scheme].append(member)
    found: dict[Item, Sequence[Enrolment]] = {}
    paid: dict[Item, frozenset[str]] = {}
    departed: dict[Item, Mapping[str, Departure]] = {}
    for scheme, ids in by_scheme.items():
        for member, rows in enrolments_of(conn, ids, scheme).items():
            found[(member, scheme)] = rows
        for member, periods in paid_of(conn, ids, scheme, str(month), str(month)).items():
            paid[(member, scheme)] = frozenset(periods)
        for member, regions in departures_of(conn, ids, scheme.value).items():
            departed[(member, scheme)] = regions
    ids = sorted({member for member, _ in items})
    return Facts(
        month=month,
        registered=frozenset(registered(conn, ids)),
        enrolments=found,
        paid=paid,
        departed=departed,
        fees_recorded=frozenset(recorded_keys(conn, [keys.fee(month, m) for m in ids])),
    )


def decide(ledger: Ledger, facts: Facts, items: Sequence[Item], today: date) -> list[Decision]:
    """Each item's decision, in order, with no I/O. The first rule that fails refuses it,
    in this order: the scheme is paid by the month (not a residents' yearly scheme); the
    member is registered; the month's enrolment pays through an HR company; then the
    contribution's own rules (``Ledger.contribution_drafts``: the back-payment window, a
    month-by-month region, a transfer out of the region). A month already paid posts no
    contribution, a fee already recorded no fee: one fee per member and month, whichever
    scheme comes first in the batch."""
    month = facts.month
    fees = set(facts.fees_recorded)
    cache: dict = {}
    decisions: list[Decision] = []
    for item in items:
        member, scheme = item
        try:
            if scheme.is_yearly:
                raise BadInput("scheme", f"{scheme} is paid once a year, not through an HR company")
            if member not in facts.registered:
                raise UnknownMember(member)
            rows = facts.enrolments.get(item, ())
            enrolment = Ledger.enrolment_for(rows, month)
            if enrolment is None or enrolment.method != "agency" or not enrolment.agency:
                how = "not enrolled" if enrolment is None else f"paying by {enrolment.method}"
                raise NotAffiliated("member", f"{member} is {how} in {scheme} for {month}")
            drafts: list[EntryDraft] = []
            if str(month) not in facts.paid.get(item, frozenset()):
                drafts.extend(
                    ledger.contribution_drafts(
                        member,
                        rows,
                        scheme,
                        month,
                        month,
                        today,
                        cache=cache,
                        departed=facts.departed.get(item),
                    )
                )
        except BadInput as refusal:
            decisions.append(Decision(item, refused=refusal))
            continue
        fee = keys.fee(month, member)
        if fee not in fees:
            drafts.extend(fee_draft(ledger, member, enrolment, month, today, cache))
            fees.add(fee)
        decisions.append(Decision(item, tuple(drafts)))
    return decisions


def charge(
    ledger: Ledger, conn: Connection, items: Sequence[Item], month: Month, today: date
) -> list[Charged]:
    """Charge ``month`` for each item: load the facts, decide, append once.

    A month found paid only at write time (another worker paid it meanwhile, on another
    day or under another key) raises ``WriteRaced``: the caller's transaction is rolled
    back and the work done again on fresh facts, where the decision is "already done".
    """
    decisions = decide(ledger, load(conn, items, month), items, today)
    drafts = [d for decision in decisions for d in decision.drafts]
    recorded = iter(ledger.recorder.append(conn, drafts))
    charged = []
    for decision in decisions:
        mine = [next(recorded) for _ in decision.drafts]
        charged.append(Charged(decision, tuple(r for r in mine if r.created)))
    return charged


def charge_month(
    ledger: Ledger, conn: Connection, member_id: str, scheme: Scheme, month: Month, today: date
) -> list[RecordedEntry]:
    """``charge`` for one member: the entries written now (none when the month was
    charged before); a refusal is raised."""
    [charged] = charge(ledger, conn, [(member_id, scheme)], month, today)
    if charged.decision.refused is not None:
        raise charged.decision.refused
    return list(charged.created)


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
        .order_by(
            enrolments.c.member_id, enrolments.c.scheme, enrolments.c.from_month, enrolments.c.id
        )
    ).all():
        grouped[(row.member_id, row.scheme)].append(enrolment_from_row(row))
    found = []
    for (member_id, scheme), rows in grouped.items():
        enrolment = Ledger.enrolment_for(rows, month)
        if enrolment is not None and enrolment.method == "agency":
            found.append((member_id, Scheme(scheme)))
    return found
