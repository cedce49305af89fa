"""Paying a month's pensions: the employee pension and the residents' pension, one path.

For each member awarded a pension whose first month has come and who is alive (the month
of death is paid), one balanced ``pension-payment`` entry per scheme:
- the employee pension (key ``pension:<YYYY-MM>:<member>``): debit the paying region's
  pooling fund (basic pension, its dated increases, and the personal-account pension once
  the account is spent), debit the personal account (the personal-account pension while
  it lasts), credit the region's ``collection`` account;
- the residents' pension (key ``resident-pension:<YYYY-MM>:<member>``): the same split
  between the resident personal account and the region's ``subsidy:resident-pension``
  account (``operations.resident_pensions`` says what is assumed there).

``load`` reads a batch's facts in a few queries whatever its size, ``decide`` is pure,
``pay`` appends once; ``pay_month`` is the same for callers that want the entries
written. A month paid already is "already done": it writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from ledger.domain import keys
from ledger.domain.accounts import collection, personal, pooling, subsidy
from ledger.domain.errors import BadInput, LedgerError
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy.loader import PolicySet
from ledger.domain.rules.benefit import InPayment, in_payment, split_payment
from ledger.domain.schemes import Scheme
from ledger.operations import CHUNK, recorded_keys
from ledger.operations.services import Ledger
from ledger.store.recorder import RecordedEntry
from ledger.store.tables import benefit_events, pension_awards
from ledger.store.totals import balances_of

PENSION = Scheme.PENSION.value
RESIDENT = Scheme.RESIDENT_PENSION.value
SCHEMES = (PENSION, RESIDENT)
# Everything recorded, whatever its effective date: what an account holds now.
_ALL = date(9999, 12, 31)

Item = tuple[str, str]
"""One pension to pay: (member, scheme), the scheme ``pension`` or ``resident-pension``."""


@dataclass(frozen=True, slots=True)
class Awarded:
    """What paying an award needs of its ``pension_awards`` row."""

    region: str
    basic_fen: int
    personal_fen: int
    retired_on: date
    first_month: Month


@dataclass(frozen=True, slots=True)
class Facts:
    """What paying ``month`` needs to know of a batch of members (``load``)."""

    month: Month
    paid: frozenset[str]
    awards: Mapping[Item, Awarded]
    died: Mapping[str, date]
    personal_fen: Mapping[Item, int]
    """Each personal account's balance now, credit positive."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One pension of the month: its entry to append, the rule that refused it, or
    neither (paid before, or nothing due: no award yet, died before the month)."""

    item: Item
    drafts: tuple[EntryDraft, ...] = ()
    refused: LedgerError | None = None


@dataclass(frozen=True, slots=True)
class Paid:
    """A decision once appended: ``created`` are the entries written now."""

    decision: Decision
    created: tuple[RecordedEntry, ...] = ()


def items_of(member_ids: Sequence[str]) -> list[Item]:
    """Every pension a batch of members may be due, employee pensions first."""
    ids = sorted(set(member_ids))
    return [(m, scheme) for scheme in SCHEMES for m in ids]


def _key(month: Month, item: Item) -> str:
    member, scheme = item
    if scheme == PENSION:
        return keys.pension(month, member)
    return keys.resident_pension(month, member)


def load(conn: Connection, items: Sequence[Item], month: Month) -> Facts:
    """The facts ``decide`` needs for ``items``: a few queries for the whole batch."""
    paid = recorded_keys(conn, [_key(month, item) for item in items])
    due = sorted({m for m, s in items if _key(month, (m, s)) not in paid})
    awards: dict[Item, Awarded] = {}
    died: dict[str, date] = {}
    for start in range(0, len(due), CHUNK):
        chunk = due[start : start + CHUNK]
        for row in conn.execute(
            select(pension_awards).where(
                pension_awards.c.member_id.in_(chunk), pension_awards.c.scheme.in_(SCHEMES)
            )
        ):
            awards[(row.member_id, row.scheme)] = Awarded(
                row.region,
                row.basic_fen,
                row.personal_fen,
                row.retired_on,
                Month.parse(row.first_month),
            )
        for row in conn.execute(
            select(benefit_events.c.member_id, benefit_events.c.on_date).where(
                benefit_events.c.kind == "death", benefit_events.c.member_id.in_(chunk)
            )
        ):
            died[row.member_id] = row.on_date
    names = {item: personal(item[1], item[0]) for item in awards}
    held = balances_of(conn, list(names.values()), _ALL) if names else {}
    return Facts(
        month=month,
        paid=frozenset(paid),
        awards=awards,
        died=died,
        personal_fen={item: -held.get(name, 0) for item, name in names.items()},
    )


def decide(
    policy: PolicySet, facts: Facts, items: Sequence[Item], paid_on: date, today: date
) -> list[Decision]:
    """Each item's decision, in order, with no I/O. Refused, in this order: paid before
    the month begins; paid on a day after ``today``. Then nothing is written for a
    pension paid already, a member with no award of that scheme or whose first month is
    later, or one who died before the month."""
    month = facts.month
    refusal: LedgerError | None = None
    if paid_on < month.first_day:
        refusal = BadInput("today", f"{month}'s pension cannot be paid before it, on {paid_on}")
    elif paid_on > today:
        refusal = BadInput("today", f"{paid_on} is in the future")
    decisions = []
    for item in items:
        award = facts.awards.get(item)
        death = facts.died.get(item[0])
        if refusal is not None:
            decisions.append(Decision(item, refused=refusal))
        elif (
            _key(month, item) in facts.paid
            or award is None
            or award.first_month > month
            or (death is not None and Month.of(death) < month)
        ):
            decisions.append(Decision(item))
        else:
            draft = _draft(policy, month, item, award, facts.personal_fen[item], paid_on)
            decisions.append(Decision(item, (draft,)))
    return decisions


def _draft(
    policy: PolicySet, month: Month, item: Item, award: Awarded, held_fen: int, paid_on: date
) -> EntryDraft:
    member, scheme = item
    if scheme == PENSION:
        pension = in_payment(award.basic_fen, award.personal_fen, award.retired_on, month, policy)
        name, source = "pension", "the pooling fund"
        fund = pooling(PENSION, award.region)
    else:
        pension = InPayment(award.basic_fen, award.personal_fen, ())
        name, source = "residents' pension", "the government's subsidy"
        fund = subsidy(RESIDENT, award.region)
    split = split_payment(pension, held_fen)
    raised = "".join(
        f"; +{format_yuan(i.amount_fen)} from {i.effective} ({i.status}, {i.source})"
        for i in pension.increases
    )
    return EntryDraft.build(
        kind=EntryKind.PENSION_PAYMENT,
        effective_date=paid_on,
        idempotency_key=_key(month, item),
        reason=(
            f"{name} {month}: {format_yuan(split.total_fen)} = basic "
            f"{format_yuan(pension.basic_fen)} + personal account "
            f"{format_yuan(pension.personal_fen)}; from the personal account "
            f"{format_yuan(split.from_personal_fen)}, from {source} "
            f"{format_yuan(split.from_pooling_fen)}{raised}"
        ),
        period=str(month),
        member_id=member,
        scheme=scheme,
        region=award.region,
        postings=[
            (fund, split.from_pooling_fen),
            (personal(scheme, member), split.from_personal_fen),
            (collection(scheme, award.region), -split.total_fen),
        ],
    )


def pay(
    ledger: Ledger, conn: Connection, member_ids: Sequence[str], month: Month, paid_on: date
) -> list[Paid]:
    """Pay ``month`` on ``paid_on`` to each member due a pension: load, decide, append once.

    A pension found paid only at write time (another worker paid it meanwhile) raises
    ``WriteRaced``: the transaction is rolled back and the work done again on fresh facts.
    """
    items = items_of(member_ids)
    facts = load(conn, items, month)
    decisions = decide(ledger.policy, facts, items, paid_on, ledger.clock.now().date())
    drafts = [d for decision in decisions for d in decision.drafts]
    recorded = iter(ledger.recorder.append(conn, drafts))
    paid = []
    for decision in decisions:
        mine = [next(recorded) for _ in decision.drafts]
        paid.append(Paid(decision, tuple(r for r in mine if r.created)))
    return paid


def pay_month(
    ledger: Ledger, conn: Connection, member_ids: Sequence[str], month: Month, paid_on: date
) -> list[RecordedEntry]:
    """``pay``, the entries written now (none for months paid before); a refusal is raised."""
    written = []
    for done in pay(ledger, conn, member_ids, month, paid_on):
        if done.decision.refused is not None:
            raise done.decision.refused
        written.extend(done.created)
    return written


def awarded_members(conn: Connection, month: Month) -> list[str]:
    """Members whose pension is due for ``month``: awarded (the employee or the residents'
    pension), first month by then, alive (or died in ``month`` or later: the month of
    death is paid)."""
    awarded = conn.execute(
        select(pension_awards.c.member_id)
        .where(pension_awards.c.first_month <= str(month))
        .distinct()
    ).scalars()
    dead = {
        row.member_id: row.on_date
        for row in conn.execute(select(benefit_events).where(benefit_events.c.kind == "death"))
    }
    return sorted(m for m in awarded if m not in dead or Month.of(dead[m]) >= month)
