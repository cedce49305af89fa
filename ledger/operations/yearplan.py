"""A member's year as a run on a given day finds it, and the closing of a year.

``load`` reads the facts of a batch of members in a few queries whatever its size;
``plan`` decides, with no I/O, each member's months: the bank months still collectable
(``ledger.operations.withholding`` asks the bank for them) and the months whose
back-payment window has closed unpaid (``payment.back_payment``: a month of year Y
cannot be paid after Y), whatever the method. ``close`` records those as gaps: one
``arrears`` entry each, key ``gap:<period>:<member>:<scheme>``, dated the day the window
closed, debit ``arrears:<scheme>:<member>``, credit ``gaps:<scheme>:<region>`` (the contra
of the arrears: no fund is credited with money that never came, and nothing reaches a
personal account). A later payment for the month is refused by the payment window check.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from sqlalchemy import Connection

from ledger.domain import keys
from ledger.domain.accounts import arrears
from ledger.domain.accounts import gaps as gaps_account
from ledger.domain.errors import BackPaymentWindowClosed, BadInput, LedgerError, UnknownMember
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.domain.policy.records import BackPayment, BankAgreement
from ledger.domain.rules.contribution import assess
from ledger.domain.schemes import Scheme
from ledger.operations import registered
from ledger.operations.bulk import enrolments_of, paid_of
from ledger.operations.rosters import enrolled_members
from ledger.operations.services import Ledger
from ledger.store.queries import Departure, departures_of
from ledger.store.recorder import RecordedEntry


@dataclass(frozen=True, slots=True)
class Facts:
    """What planning a batch's year needs, loaded in a few queries (``load``)."""

    enrolments: Mapping[str, Sequence[Enrolment]]
    paid: Mapping[str, set[str]]
    departed: Mapping[str, Mapping[str, Departure]]
    unknown: frozenset[str] = frozenset()
    """Members of the batch that are not registered (looked for only among those with no
    enrolment in the scheme)."""
    gapped: Mapping[str, set[str]] = field(default_factory=dict)
    """Each member's months of the year recorded as gaps already."""


@dataclass(frozen=True, slots=True)
class Plan:
    """One member's year as a run on a day finds it (``plan``)."""

    due: tuple[EntryDraft, ...] = ()
    """Contribution drafts for the bank months it may still collect."""
    gaps: tuple[EntryDraft, ...] = ()
    """Arrears drafts for months whose window closed, not recorded yet."""
    region: str | None = None
    """Where the member is enrolled in the run's last month (an overpayment's fund)."""


def load(
    conn: Connection, member_ids: Sequence[str], scheme: Scheme, year: int, today: date
) -> Facts:
    """The facts ``plan`` needs for ``member_ids``' ``year`` as a run on ``today`` sees it."""
    found = enrolments_of(conn, member_ids, scheme)
    lonely = sorted({m for m in member_ids if m not in found})
    unknown = frozenset(lonely) - registered(conn, lonely) if lonely else frozenset()
    ids = [m for m in member_ids if m in found]
    if today.year < year or not ids:
        return Facts(found, {}, {}, unknown)
    first, end = f"{year}-01", str(last(year, today))
    return Facts(
        found,
        paid_of(conn, ids, scheme, first, end),
        departures_of(conn, ids, scheme.value),
        unknown,
        paid_of(conn, ids, scheme, first, end, EntryKind.ARREARS),
    )


def last(year: int, today: date) -> Month:
    """The last month of ``year`` a run on ``today`` looks at."""
    return Month(year, 12) if today.year > year else Month.of(today)


@lru_cache(maxsize=256)
def _months(year: int, last: Month) -> tuple[tuple[Month, str], ...]:
    """January of ``year`` to ``last``, each with its ``YYYY-MM`` (a batch asks per member)."""
    return tuple((m, str(m)) for m in Month(year, 1).until(last))


def agreement_starts(ledger: Ledger, enrolment: Enrolment) -> Month:
    """The first month a withholding agreement collects: after signing, never before enrolling
    (``payment.bank_agreement.takes_effect_after_months``; Nanjing tax bureau: the next month)."""
    if enrolment.signed_on is None:
        return enrolment.from_month
    rule = ledger.policy.at(BankAgreement, enrolment.signed_on, enrolment.region)
    return max(enrolment.from_month, Month.of(enrolment.signed_on) + rule.takes_effect_after_months)


def plan(
    ledger: Ledger,
    facts: Facts,
    member_id: str,
    scheme: Scheme,
    year: int,
    today: date,
    cache: dict | None = None,
) -> Plan:
    """What a run on ``today`` finds for the member's ``year``, with no I/O; raises the first
    rule that refuses the member, in this order of precedence:

    1. the scheme is paid by the month (``BadInput`` on ``scheme``: residents pay yearly);
    2. the member is registered (``UnknownMember``);
    3. each month's own rules (``Ledger.contribution_drafts``), but for a closed
       back-payment window, which makes the month a gap.

    ``due``: the bank months still collectable. ``gaps``: every enrolled month still
    unpaid whose window has closed, whatever the method: a month paid monthly or through a
    company and never paid is as much a gap as one the bank could not collect. Bank months
    before the withholding agreement took effect are the member's to pay: neither due nor,
    while their window is open, gaps. Months enrolled in a region the member's insurance
    was transferred out of are neither: the relationship there ended with the transfer
    (国办发〔2009〕66号). A year after ``today``'s has nothing yet.
    """
    if scheme.is_yearly:
        raise BadInput("scheme", f"{scheme} is collected once a year, not by bank months")
    if member_id in facts.unknown:
        raise UnknownMember(member_id)
    if today.year < year:
        return Plan()
    found = facts.enrolments.get(member_id, ())
    paid = facts.paid.get(member_id, set())
    gapped = facts.gapped.get(member_id, set())
    departed = facts.departed.get(member_id)
    due: list[EntryDraft] = []
    gaps: list[EntryDraft] = []
    end = last(year, today)
    for month, text in _months(year, end):
        if text in paid or text in gapped:
            continue
        enrolment = ledger.enrolment_for(found, month)
        if enrolment is None or (departed and enrolment.region in departed):
            continue
        bank = enrolment.method == "bank"
        if bank and month < agreement_starts(ledger, enrolment):
            continue
        try:
            drafts = ledger.contribution_drafts(
                member_id, found, scheme, month, month, today, cache=cache
            )
        except BackPaymentWindowClosed:
            gaps.append(gap_draft(ledger, member_id, enrolment, scheme, month))
            continue
        if bank:
            due.extend(drafts)
    latest = ledger.enrolment_for(found, end) or (found[-1] if found else None)
    return Plan(tuple(due), tuple(gaps), latest.region if latest is not None else None)


def gap_draft(
    ledger: Ledger, member_id: str, enrolment: Enrolment, scheme: Scheme, month: Month
) -> EntryDraft:
    """Arrears for a month never collected, dated the day its back-payment window closed."""
    rule = ledger.monthly_only(enrolment.region, month) or ledger.policy.at(
        BackPayment, month.first_day, enrolment.region
    )
    closed = ledger.window_closes(enrolment.region, month)
    owed = assess(
        ledger.policy,
        enrolment.region,
        scheme,
        month,
        enrolment.choice,
        known_at=ledger.clock.now(),
    )
    return EntryDraft.build(
        kind=EntryKind.ARREARS,
        effective_date=closed,
        idempotency_key=keys.gap(month, member_id, scheme),
        reason=f"gap: {month} unpaid when the back-payment window closed on {closed} "
        f"({rule.source})",
        period=str(month),
        member_id=member_id,
        scheme=scheme.value,
        region=enrolment.region,
        base_fen=owed.base_fen,
        postings=[
            (arrears(scheme.value, member_id), owed.total_fen),
            (gaps_account(scheme.value, enrolment.region), -owed.total_fen),
        ],
    )


@dataclass(frozen=True, slots=True)
class Closed:
    """One member's closed year: the gaps written now, or the rule that refused them."""

    member_id: str
    gaps: tuple[RecordedEntry, ...] = ()
    refused: LedgerError | None = None


def close(
    ledger: Ledger,
    conn: Connection,
    member_ids: Sequence[str],
    scheme: Scheme,
    year: int,
    today: date,
) -> list[Closed]:
    """Record as gaps the months of ``year`` each member can no longer pay on ``today``
    (``plan``'s gaps, any method), one result per member in order."""
    facts = load(conn, member_ids, scheme, year, today)
    cache: dict = {}
    planned: list[tuple[str, tuple[EntryDraft, ...], LedgerError | None]] = []
    for member in member_ids:
        try:
            gaps = plan(ledger, facts, member, scheme, year, today, cache).gaps
        except LedgerError as refusal:
            planned.append((member, (), refusal))
        else:
            planned.append((member, gaps, None))
    written = iter(ledger.recorder.append(conn, [g for _, gaps, _ in planned for g in gaps]))
    return [Closed(m, tuple(next(written) for _ in gaps), no) for m, gaps, no in planned]


def close_year(
    ledger: Ledger, conn: Connection, scheme: Scheme, year: int, today: date
) -> list[RecordedEntry]:
    """Record the gaps of every member enrolled in ``scheme`` during ``year``, once it has
    ended; returns the entries written."""
    if today <= date(year, 12, 31):
        raise BadInput("year", f"{year} has not ended on {today}: its months may still be paid")
    members = enrolled_members(conn, scheme, year)
    by_member: defaultdict[str, list[RecordedEntry]] = defaultdict(list)
    for one in close(ledger, conn, members, scheme, year, today):
        if one.refused is not None:
            raise one.refused
        by_member[one.member_id].extend(one.gaps)
    return [g for m in members for g in by_member[m]]
