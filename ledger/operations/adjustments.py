"""Adjustment entries for figures announced late.

A base or rate published after the months it applies to (Beijing published its 2025 base
on 2025-09-18, effective 2025-07-01) leaves months already paid on the old figures. This
module finds those months and posts, for each, one ``adjustment`` entry for the
difference between what the policy as known now asks and what was posted, charged to the
member's arrears: nothing already recorded is edited.

Running it again finds nothing left to adjust and writes nothing: the difference is
recomputed from everything posted for the month, and the idempotency key counts the
adjustments already made, so two concurrent runs produce the same key (the second is a
race, ``WriteRaced``, retried on fresh facts).

One path: ``load`` a window's facts (the months paid before the publication, their
enrolments and what is posted for them: a few queries per 500 members), ``decide`` with
no I/O (per month: the adjustment, or nothing when the posted amounts already match),
append once (``post_adjustments``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import Connection, and_, select

from ledger.domain import keys
from ledger.domain.accounts import arrears, personal, pooling
from ledger.domain.errors import BaseOutsideRange
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy.loader import PolicySet
from ledger.domain.policy.record import Record
from ledger.domain.policy.records import MedicalContribution, PensionBase, PensionRate
from ledger.domain.rules.contribution import Assessment, BaseChoice, assess
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.store.recorder import RecordedEntry
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import accounts, enrolments, entries, postings

LATE_PATHS: dict[type[Record], Scheme | None] = {
    PensionBase: None,  # the pension base range also bounds medical bases in some regions
    PensionRate: Scheme.PENSION,
    MedicalContribution: Scheme.MEDICAL,
}
POSTED_KINDS = (EntryKind.CONTRIBUTION, EntryKind.ADJUSTMENT, EntryKind.CORRECTION)


@dataclass(frozen=True, slots=True)
class LateWindow:
    """Months from ``first`` paid before ``published`` in ``region`` may need adjusting."""

    region: str
    first: Month
    published: date
    source: str


def late_windows(ledger: Ledger, known_at: date) -> list[LateWindow]:
    """Every record published after it took effect, and known by ``known_at``."""
    found = []
    for region in ledger.policy.regions:
        for kind in LATE_PATHS:
            for record in ledger.policy.history(kind.path, region):
                if record.published and record.published > record.effective <= known_at:
                    if record.published <= known_at and record.variant is None:
                        found.append(
                            LateWindow(
                                region, Month.of(record.effective), record.published, record.source
                            )
                        )
    return found


Item = tuple[str, str, str]
"""One month to re-assess: member, scheme, period."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What adjusting one window needs (``load``)."""

    window: LateWindow
    paid: Sequence[Item]
    """The months paid before the publication, by member, scheme and period."""
    enrolments: Mapping[tuple[str, str], Sequence[Enrolment]]
    posted: Mapping[Item, Mapping[str, int]]
    """What each month's entries post, by account type (``personal``, ``pooling``)."""
    adjusted: Mapping[Item, int]
    """How many adjustments each month has had."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One month: the adjustment to append, or none (the posted amounts match)."""

    item: Item
    drafts: tuple[EntryDraft, ...] = ()


def _assess_clamped(
    policy: PolicySet, enrolment: Enrolment, scheme: Scheme, month: Month
) -> Assessment:
    """As ``assess``, but a fixed amount left outside a new range moves to its floor or ceiling."""
    try:
        return assess(policy, enrolment.region, scheme, month, enrolment.choice)
    except BaseOutsideRange:
        # 100% of the average wage always lies in range; it tells the floor and ceiling.
        probe = assess(policy, enrolment.region, scheme, month, BaseChoice.of(percent="100"))
        assert enrolment.choice.amount_fen is not None
        assert probe.floor_fen is not None and probe.ceiling_fen is not None
        amount = min(max(enrolment.choice.amount_fen, probe.floor_fen), probe.ceiling_fen)
        return assess(policy, enrolment.region, scheme, month, BaseChoice(amount_fen=amount))


def _yuan(amount_fen: int | None) -> str:
    return "none" if amount_fen is None else format_yuan(amount_fen)


def post_adjustments(
    ledger: Ledger, conn: Connection, published_on: date | None = None
) -> list[RecordedEntry]:
    """Adjust every month paid before a late publication that the ledger now knows of:
    each window loaded and decided, every adjustment appended once.

    ``published_on``: only the publications of that day. A window once adjusted after its
    publication stays complete (every entry recorded since has ``recorded_at`` after it, so
    the window never gains a month), so a caller that runs on each publication day — the
    simulation — need not read the earlier windows again.
    """
    today = ledger.clock.now().date()
    drafts: list[EntryDraft] = []
    for window in late_windows(ledger, today):
        if published_on is not None and window.published != published_on:
            continue
        for decision in decide(ledger.policy, load(conn, window), today):
            drafts.extend(decision.drafts)
    # Two windows of one region (a base and a rate) may re-assess the same month.
    unique = {d.idempotency_key: d for d in drafts}
    return ledger.recorder.append(conn, list(unique.values()))


def load(conn: Connection, window: LateWindow) -> Facts:
    """The months of ``window`` paid before its publication and what is posted for them."""
    published_at = datetime.combine(window.published, time.min, tzinfo=UTC)
    paid = [
        (row.member_id, row.scheme, row.period)
        for row in conn.execute(
            select(entries.c.member_id, entries.c.scheme, entries.c.period)
            .where(
                and_(
                    entries.c.kind == EntryKind.CONTRIBUTION.value,
                    entries.c.region == window.region,
                    entries.c.period >= str(window.first),
                    entries.c.period < str(Month.of(window.published) + 1),
                    entries.c.recorded_at < published_at,
                    entries.c.scheme.in_([Scheme.PENSION.value, Scheme.MEDICAL.value]),
                )
            )
            .order_by(entries.c.member_id, entries.c.scheme, entries.c.period)
        )
    ]
    members = sorted({member for member, _, _ in paid})
    enrolled: dict[tuple[str, str], list[Enrolment]] = defaultdict(list)
    posted: dict[Item, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    adjusted: dict[Item, int] = defaultdict(int)
    for start in range(0, len(members), 500):
        chunk = members[start : start + 500]
        for row in conn.execute(
            select(enrolments)
            .where(enrolments.c.member_id.in_(chunk))
            .order_by(enrolments.c.from_month, enrolments.c.id)
        ):
            enrolled[(row.member_id, row.scheme)].append(enrolment_from_row(row))
        for row in conn.execute(
            select(
                entries.c.member_id,
                entries.c.scheme,
                entries.c.period,
                entries.c.kind,
                accounts.c.name,
                postings.c.amount_fen,
            )
            .join(postings, postings.c.entry_id == entries.c.id)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(
                entries.c.member_id.in_(chunk),
                entries.c.region == window.region,
                entries.c.period >= str(window.first),
                entries.c.kind.in_([k.value for k in POSTED_KINDS]),
            )
        ):
            key = (row.member_id, row.scheme, row.period)
            posted[key][row.name.split(":", 1)[0]] += row.amount_fen
            if row.kind == EntryKind.ADJUSTMENT.value and row.name.startswith("arrears:"):
                adjusted[key] += 1
    return Facts(window, paid, enrolled, posted, adjusted)


def decide(policy: PolicySet, facts: Facts, today: date) -> list[Decision]:
    """Each paid month's decision, in order, with no I/O: re-assessed on the policy known
    now (a fixed amount outside the new range moves to its floor or ceiling), the
    difference to what is posted becomes one ``adjustment`` entry dated ``today`` with the
    next adjustment key; no difference (or no enrolment in force), nothing."""
    window = facts.window
    decisions = []
    for item in facts.paid:
        member, scheme_name, period = item
        scheme, month = Scheme(scheme_name), Month.parse(period)
        enrolment = Ledger.enrolment_for(facts.enrolments.get((member, scheme_name), ()), month)
        if enrolment is None:
            decisions.append(Decision(item))
            continue
        target = _assess_clamped(policy, enrolment, scheme, month)
        posted = facts.posted.get(item, {})
        personal_diff = target.personal_fen + posted.get("personal", 0)
        pooling_diff = target.pooling_fen + posted.get("pooling", 0)
        if personal_diff == 0 and pooling_diff == 0:
            decisions.append(Decision(item))
            continue
        draft = EntryDraft.build(
            kind=EntryKind.ADJUSTMENT,
            effective_date=today,
            idempotency_key=keys.adjustment(
                period, member, scheme_name, facts.adjusted.get(item, 0) + 1
            ),
            reason=f"{period} re-assessed after {window.source} (published "
            f"{window.published}): base now {_yuan(target.base_fen)}",
            period=period,
            member_id=member,
            scheme=scheme_name,
            region=window.region,
            base_fen=target.base_fen,
            postings=[
                (arrears(scheme_name, member), personal_diff + pooling_diff),
                (personal(scheme_name, member), -personal_diff),
                (pooling(scheme_name, window.region), -pooling_diff),
            ],
        )
        decisions.append(Decision(item, (draft,)))
    return decisions
