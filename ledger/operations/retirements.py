"""Retirements: one path for one member and for a simulated year's hundreds.

At or after the statutory retirement date a member with the minimum months is awarded a
pension computed from the ledger's own history (``rules.benefit.compute_award``, recorded
in ``pension_awards`` with every input), and 12% of the bases paid in each temporary place
is collected into the paying region (``temporary-collection`` entries). A member short of
the minimum chooses (``pay-on``, ``resident``, ``refund``), recorded once in
``benefit_events``; ``resident`` and ``refund`` end the employee pension enrolment with
the month before and move the personal account (``scheme-change`` or ``refund``).

``retirement_facts.load`` reads a batch's facts in a few queries, ``decide`` is pure,
``retire`` writes the rows and appends once. ``award_pension`` and
``record_short_choice`` are batches of one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, insert

from ledger.domain import keys
from ledger.domain.accounts import personal, refunds
from ledger.domain.errors import (
    AlreadyRecorded,
    BadInput,
    LedgerError,
    ShortOfMinimum,
    UnknownMember,
)
from ledger.domain.identity import parse_citizen_id
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Enrolment, Member
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.rules.benefit import Award, age_on, compute_award
from ledger.domain.rules.pension import minimum_months
from ledger.domain.schemes import Scheme
from ledger.operations import temporary
from ledger.operations.pensions import (
    CHOICES,
    PENSION,
    AwardRow,
    category_of,
    fraction_text,
    statutory,
)
from ledger.operations.retirement_facts import Facts, Retirement, load
from ledger.operations.services import Ledger
from ledger.store.recorder import RecordedEntry
from ledger.store.tables import benefit_events, pension_awards


@dataclass(frozen=True, slots=True)
class Decision:
    """One retirement: an award to record, a short-of-minimum choice to record, the
    entries to append, the enrolment to end; a refusal; or already done."""

    member_id: str
    on: date
    outcome: str = "replayed"
    award: Award | None = None
    inputs: str | None = None
    choice: tuple[str, str] | None = None
    """(choice, detail) of a short-of-minimum event to record now."""
    ends: tuple[Enrolment, Month] | None = None
    drafts: tuple[EntryDraft, ...] = ()
    refused: LedgerError | None = None
    existing: AwardRow | None = None


def decide(
    ledger: Ledger,
    facts: Facts,
    items: Sequence[Retirement],
    short_choice: str | None = None,
    award: bool = True,
) -> list[Decision]:
    """Each retirement's decision, in order, with no I/O (``ledger``: its policy).

    With ``award``, the pension is awarded; refused, in this order of precedence: the
    member is a valid citizen number, registered (``UnknownMember``); an award recorded
    on another day (``AlreadyRecorded`` on ``on``; on the same day: already done); a death
    recorded (``BadInput`` on ``member``); a choice short of the minimum that ended the
    insurance (``AlreadyRecorded``); the category is one for the member's sex (``BadInput``
    on ``category``); the day is not before the statutory date (``NotRetired``); months
    paid, at least the minimum (``ShortOfMinimum``). A member short of the minimum, with
    ``short_choice``, gets that choice recorded instead (as without ``award``).

    Without ``award``, ``short_choice`` is recorded; refused, in this order: it is one of
    ``CHOICES`` (``BadInput`` on ``short``); the member is registered; the category; the
    day is not before the statutory date; no award (``AlreadyRecorded``), no death
    (``BadInput``); short of the minimum, unless a choice is recorded already (``BadInput``
    on ``short``); a choice recorded on another day or another way (``AlreadyRecorded``;
    the same: already done).
    """
    decisions = []
    for text, on, category in items:
        try:
            if not award:
                decisions.append(_short(ledger, facts, text, on, category, short_choice or ""))
                continue
            try:
                decisions.append(_award(ledger, facts, text, on, category))
            except ShortOfMinimum:
                if short_choice is None:
                    raise
                decisions.append(_short(ledger, facts, text, on, category, short_choice))
        except LedgerError as refusal:
            decisions.append(Decision(text, on, refused=refusal))
    return decisions


def _member(facts: Facts, text: str) -> Member:
    number = parse_citizen_id(text, today=facts.today, field="member").number
    member = facts.members.get(number)
    if member is None:
        raise UnknownMember(number)
    return member


def _award(ledger: Ledger, facts: Facts, text: str, on: date, category: str | None) -> Decision:
    member = _member(facts, text)
    existing = facts.awards.get(member.id)
    if existing is not None:
        if existing.retired_on != on:
            raise AlreadyRecorded(
                "on", f"{member.id} was awarded a pension on {existing.retired_on}, not {on}"
            )
        return Decision(member.id, on, "replayed", existing=existing)
    death = facts.events.get((member.id, "death"))
    if death is not None:
        raise BadInput("member", f"{member.id} died on {death.on}: no pension to award")
    choice = facts.events.get((member.id, "short-of-minimum"))
    if choice is not None and choice.choice != "pay-on":
        raise AlreadyRecorded(
            "member", f"{member.id} chose {choice.choice} on {choice.on}: the insurance ended"
        )
    reached = statutory(ledger, member, on, category)  # the category, then the date
    chosen = category_of(member, category)
    paid = facts.paid.get(member.id, ())
    if not paid:
        raise ShortOfMinimum("member", f"{member.id} has paid no pension month")
    years, extra = age_on(member.birth_date, on)
    award = compute_award(
        list(paid),
        region=facts.places[member.id],
        retired_on=on,
        age_years=years,
        age_extra_months=extra,
        personal_balance_fen=facts.held_on.get((member.id, on), 0),
        policy=ledger.policy,
        retirement_source=reached.rule_source,
        reached_year=reached.date.year,
    )
    if not award.meets_minimum:
        raise ShortOfMinimum(
            "member",
            f"{member.id} has {award.months_counted} months, {award.minimum_months} needed "
            f"by those reaching retirement age in {reached.date.year} "
            f"(Social Insurance Law Art. 16; NPC decision 2024-09-13): choose with --short "
            f"{'|'.join(CHOICES)}",
        )
    inputs = {
        "category": chosen.value,
        "months": [
            {
                "region": y.region,
                "record_effective": y.effective.isoformat(),
                "months": y.months,
                "base_total_fen": y.base_total_fen,
                "average_wage_fen": fraction_text(y.average_wage),
                "index_sum": fraction_text(y.index_sum),
                "source": y.source,
                "status": y.status,
            }
            for y in award.years
        ],
    }
    drafts = temporary.collection_drafts(
        ledger.policy, member.id, award.region, on, facts.temporary_paid.get(member.id, {})
    )
    return Decision(
        member.id,
        on,
        "awarded",
        award=award,
        inputs=json.dumps(inputs, ensure_ascii=False, sort_keys=True),
        drafts=tuple(drafts),
    )


def _short(
    ledger: Ledger, facts: Facts, text: str, on: date, category: str | None, choice: str
) -> Decision:
    if choice not in CHOICES:
        raise BadInput("short", f"{choice!r} is not one of {', '.join(CHOICES)}")
    member = _member(facts, text)
    reached = statutory(ledger, member, on, category).date.year
    if member.id in facts.awards:
        raise AlreadyRecorded("short", f"{member.id} is awarded a pension already")
    if (member.id, "death") in facts.events:
        raise BadInput("member", f"{member.id} is recorded dead")
    months = len(facts.paid.get(member.id, ()))
    needed = minimum_months(reached, ledger.policy)
    existing = facts.events.get((member.id, "short-of-minimum"))
    if months >= needed and existing is None:
        raise BadInput(
            "short", f"{member.id} has {months} months (≥ {needed}): retire without --short"
        )
    outcome = f"short-{choice}"
    if existing is not None:
        if existing.on != on or existing.choice != choice:
            what = f"{existing.choice} on {existing.on}"
            raise AlreadyRecorded(
                "on" if existing.choice == choice else "choice",
                f"{member.id}: short-of-minimum already recorded ({what})",
            )
        return Decision(member.id, on, outcome)  # recorded with all it wrote: done
    detail = (
        f"{months} months paid, {needed} needed by those reaching retirement age in "
        f"{reached}: chose {choice}"
    )
    ends = None
    drafts: list[EntryDraft] = []
    if choice in ("refund", "resident"):
        ends = _ending(facts.enrolments.get(member.id, ()), Month.of(on) - 1)
        held = facts.held.get(member.id, 0)
        if held != 0:
            if choice == "refund":
                kind, key, to = (
                    EntryKind.REFUND,
                    keys.refund(PENSION, member.id),
                    refunds(PENSION, member.id),
                )
                why = f"insurance ended short of the minimum ({detail}): personal account refunded"
            else:
                kind, key, to = (
                    EntryKind.SCHEME_CHANGE,
                    keys.scheme_change(PENSION, member.id),
                    personal(Scheme.RESIDENT_PENSION.value, member.id),
                )
                why = (
                    f"moved to the residents' pension ({detail}): the personal account "
                    f"merges in (人社部发〔2014〕17号)"
                )
            drafts.append(
                EntryDraft.build(
                    kind=kind,
                    effective_date=on,
                    idempotency_key=key,
                    reason=f"{why}: {format_yuan(held)}",
                    member_id=member.id,
                    scheme=PENSION,
                    region=facts.places[member.id],
                    postings=[(personal(PENSION, member.id), held), (to, -held)],
                )
            )
    return Decision(
        member.id, on, outcome, choice=(choice, detail), ends=ends, drafts=tuple(drafts)
    )


def _ending(found: Sequence[Enrolment], last: Month) -> tuple[Enrolment, Month] | None:
    """The employee pension enrolment to record again ending with ``last`` (a later row
    supersedes an earlier one), or None if it ends by then already."""
    current = Ledger.enrolment_for(found, last) or (found[-1] if found else None)
    if current is None or current.from_month > last:
        return None
    if current.to_month is not None and current.to_month <= last:
        return None
    return current, last


def retire(
    ledger: Ledger,
    conn: Connection,
    items: Sequence[Retirement],
    short_choice: str | None = None,
    award: bool = True,
) -> list[tuple[Decision, tuple[RecordedEntry, ...]]]:
    """Retire each member: load, decide, write the awards, choices and enrolments' ends,
    append once. Each decision with the entries written for it."""
    decisions = decide(ledger, load(ledger, conn, items), items, short_choice, award)
    now = ledger.clock.now()
    for d in decisions:
        if d.award is not None:
            a = d.award
            conn.execute(
                insert(pension_awards).values(
                    member_id=d.member_id,
                    scheme=PENSION,
                    region=a.region,
                    retired_on=d.on,
                    first_month=str(a.first_month),
                    age_years=a.age_years,
                    age_extra_months=a.age_extra_months,
                    months_counted=a.months_counted,
                    minimum_months=a.minimum_months,
                    index_sum=fraction_text(a.index_sum),
                    average_index=fraction_text(a.average_index),
                    calculation_base_fen=a.calculation_base_fen,
                    personal_balance_fen=a.personal_balance_fen,
                    divisor=fraction_text(a.divisor),
                    basic_fen=a.basic_fen,
                    personal_fen=a.personal_fen,
                    total_fen=a.total_fen,
                    inputs=d.inputs,
                    sources="\n".join(a.sources),
                    recorded_at=now,
                )
            )
        if d.choice is not None:
            conn.execute(
                insert(benefit_events).values(
                    member_id=d.member_id,
                    kind="short-of-minimum",
                    on_date=d.on,
                    choice=d.choice[0],
                    detail=d.choice[1],
                    recorded_at=now,
                )
            )
        if d.ends is not None:
            current, last = d.ends
            ledger.enroll(
                conn,
                d.member_id,
                Scheme.PENSION,
                current.region,
                current.choice,
                current.from_month,
                method=current.method,
                agency=current.agency,
                signed_on=current.signed_on,
                to_month=last,
            )
    written = iter(ledger.recorder.append(conn, [x for d in decisions for x in d.drafts]))
    return [(d, tuple(next(written) for _ in d.drafts)) for d in decisions]


def award_pension(
    ledger: Ledger, conn: Connection, member_id: str, on: date, category: str | None = None
) -> AwardRow:
    """Award one member's pension (a batch of one); the award, or its refusal raised."""
    [(decision, written)] = retire(ledger, conn, [(member_id, on, category)])
    if decision.refused is not None:
        raise decision.refused
    if decision.existing is not None:
        return decision.existing
    a = decision.award
    assert a is not None, "an award decided is an award"
    return AwardRow(
        decision.member_id,
        a.region,
        decision.on,
        a.first_month,
        a.basic_fen,
        a.personal_fen,
        a.total_fen,
        a.months_counted,
        a.average_index,
        True,
        len(written),
    )


def record_short_choice(
    ledger: Ledger,
    conn: Connection,
    member_id: str,
    on: date,
    choice: str,
    category: str | None = None,
) -> list[RecordedEntry]:
    """Record one member's choice short of the minimum months (a batch of one): the
    entries written now; a refusal is raised."""
    [(decision, written)] = retire(ledger, conn, [(member_id, on, category)], choice, award=False)
    if decision.refused is not None:
        raise decision.refused
    return list(written)
