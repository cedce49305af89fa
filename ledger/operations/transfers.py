"""Transfers between regions (国办发〔2009〕66号, DOMAIN.md §5): out, in transit, in or returned.

A transfer is up to two entries, each keyed by the transfer id
``<member>-<scheme>-<to>-<YYYYMMDD>`` (the same request gives the same id):

- ``transfer-out:<id>`` (status ``out``): the source sends the whole personal balance
  and, for the pension, 12% of each year's base since 1998 paid there
  (``rules.transfer.transfer_out``) to ``transit:<scheme>``; the source takes no more
  payments from the member in the scheme (``MonthMovedWithTransfer``);
- ``transfer-in:<id>`` (status ``in``): the destination takes the money into the personal
  account and its pooling fund and enrols the member from the month of acceptance, with
  the same base choice and method; or ``transfer-return:<id>`` (status ``returned``):
  rejected or timed out, the money goes back to the source.

Medical transfers move the personal balance only (医保办发〔2021〕43号) and the months
whatever the balance: an empty account with months paid still transfers, as an entry whose
legs are zero. A pension request for a man of 50 or more, a woman of 40 or more, moving
outside the hukou province opens a temporary account there instead (66号 Art. 5 (2),
``operations.temporary``): no money moves.

Each step is one path for one transfer and for a day's thousands: ``load_requests`` /
``load_steps`` read the batch's facts, ``decide_requests``, ``decide_accepts`` and
``decide_returns`` decide each transfer with no I/O (an entry to append, a refusal with
the first rule that fails, or already done), and ``request``, ``accept``, ``settle`` and
``return_`` append once. The items of a batch are decided in order, each seeing what the
ones before it decided (a second request of a member in transit is refused). A step
written meanwhile by another worker makes the append raise ``WriteRaced``: the message is
rolled back and done again on fresh facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import Connection

from ledger.domain import keys
from ledger.domain.accounts import personal, pooling, transit
from ledger.domain.errors import (
    BadInput,
    LedgerError,
    NotEnrolled,
    TransferStateError,
    UnknownMember,
)
from ledger.domain.identity import parse_citizen_id
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy.loader import PolicySet
from ledger.domain.rules.transfer import PaidMonth, transfer_out
from ledger.domain.schemes import Scheme
from ledger.operations import temporary
from ledger.operations.services import Ledger
from ledger.operations.transfer_facts import (
    TRANSFERABLE,
    RequestFacts,
    StepFacts,
    Transfer,
    TransferStatus,
    find_transfer,
    find_transfers,
    in_transit,
    load_requests,
    load_steps,
    member_transfers,
    months_paid,
    paid_months,
)

__all__ = [
    "Decision",
    "Transfer",
    "TransferStatus",
    "accept",
    "accept_transfer",
    "decide_accepts",
    "decide_requests",
    "decide_returns",
    "find_transfer",
    "find_transfers",
    "in_transit",
    "member_transfers",
    "months_paid",
    "paid_months",
    "request",
    "request_transfer",
    "return_",
    "return_transfer",
    "settle",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """One transfer's step: the entry to append, a temporary account to open instead
    (``kept_in``: where the relationship stays), the rule that refused it, or, with none
    of these, already done."""

    transfer_id: str
    draft: EntryDraft | None = None
    refused: LedgerError | None = None
    kept_in: str | None = None
    leaving: Enrolment | None = None
    """The enrolment the member leaves from: copied at the destination."""
    transfer: Transfer | None = None
    """The transfer as it stands once the step is taken (accepts and returns), or as it
    was found (a request made before)."""
    temporary: bool = False
    """The request opens (or opened) a temporary account: no transfer leaves."""

    @property
    def done(self) -> bool:
        """Already done: nothing to write."""
        return self.draft is None and self.refused is None and self.kept_in is None


# ------------------------------------------------------------------ requests


def decide_requests(
    policy: PolicySet, facts: RequestFacts, transfer_ids: Sequence[str], on: date
) -> list[Decision]:
    """Each request's decision, in order, with no I/O. The first rule that fails refuses
    it, in this order of precedence:

    1. the id names a transfer (``BadInput`` on ``transfer``: a citizen number, a scheme, a
       region, a date) requested ``on`` (``BadInput`` on ``on``);
    2. the scheme moves between regions: pension or medical (``BadInput`` on ``scheme``);
    3. the member is registered (``UnknownMember``);
    4. the destination is a known region (``UnknownRegion``);
    5. ``on`` is not in the future (``BadInput`` on ``on``);
    6. — requested already: already done;
    7. the member is enrolled in the scheme on ``on`` (``NotEnrolled``);
    8. the destination is not where the member is enrolled (``BadInput`` on ``to``);
    9. — a pension move that 66号 Art. 5 (2) keeps where it is opens a temporary account
       (already done if that account is open);
    10. no other transfer of the member in the scheme is in transit, one decided earlier
        in the batch included (``TransferStateError``);
    11. the personal balance is not negative (``BadInput`` on ``member``);
    12. something moves: money, or months paid there (``BadInput`` on ``member``).
    """
    decisions: list[Decision] = []
    leaving: dict[tuple[str, Scheme], str] = {}  # requests decided in this batch
    seen: set[str] = set()
    for tid in transfer_ids:
        try:
            decision = _request(policy, facts, tid, on, tid in seen, leaving)
        except LedgerError as refusal:
            decision = Decision(tid, refused=refusal)
        if not decision.refused:
            seen.add(tid)
        decisions.append(decision)
    return decisions


def _request(
    policy: PolicySet,
    facts: RequestFacts,
    tid: str,
    on: date,
    decided: bool,
    leaving: dict[tuple[str, Scheme], str],
) -> Decision:
    member_id, scheme, to_region, dated = keys.transfer_parts(tid)
    if parse_citizen_id(member_id, today=facts.today, field="transfer").number != member_id:
        raise BadInput("transfer", f"{tid!r} does not name its member by the citizen number")
    if dated != on:
        raise BadInput("on", f"transfer {tid} is requested on {dated}, not {on}")
    if scheme not in TRANSFERABLE:
        raise BadInput("scheme", f"{scheme} is not transferred between regions here")
    if member_id not in facts.known:
        raise UnknownMember(member_id)
    policy.region(to_region)
    if on > facts.today:
        raise BadInput("on", f"{on} is in the future")
    if decided or tid in facts.transfers:
        return Decision(tid, transfer=facts.transfers.get(tid))
    item = (member_id, scheme)
    enrolment = Ledger.enrolment_for(facts.enrolments.get(item, ()), Month.of(on))
    if enrolment is None:
        raise NotEnrolled("member", f"{member_id} has no {scheme} enrolment in force on {on}")
    source = enrolment.region
    if source == to_region:
        raise BadInput("to", f"{member_id} is already enrolled in {to_region}")
    mover = facts.movers.get(member_id)
    if scheme is Scheme.PENSION and mover is not None:
        held = facts.held.get(member_id, {})
        kept = temporary.kept_in(policy, mover, held, source, to_region, on)
        if kept is not None:
            if to_region in held:
                return Decision(tid, temporary=True)
            leaving[item] = tid
            return Decision(tid, kept_in=kept, leaving=enrolment, temporary=True)
    for other in facts.earlier.get(item, ()):
        if other.status is TransferStatus.OUT:
            raise TransferStateError(
                "member", f"transfer {other.transfer_id} is still in transit (status out)"
            )
    if item in leaving:
        raise TransferStateError(
            "member", f"transfer {leaving[item]} of this batch is still in transit (status out)"
        )
    personal_fen = -facts.balances.get(personal(scheme.value, member_id), 0)
    paid = facts.paid.get(member_id, ()) if scheme is Scheme.PENSION else ()
    months = facts.months.get(item, 0)
    draft = _out_draft(
        policy, tid, member_id, scheme, source, to_region, on, paid, personal_fen, months
    )
    leaving[item] = tid
    return Decision(tid, draft=draft, leaving=enrolment)


def _out_draft(
    policy: PolicySet,
    transfer_id: str,
    member_id: str,
    scheme: Scheme,
    source: str,
    to_region: str,
    on: date,
    paid: Sequence[PaidMonth],
    personal_fen: int,
    months: int,
) -> EntryDraft:
    """The ``transfer-out`` entry (``paid``: pension only; ``months``: the months paid at
    the source since the member last moved in there)."""
    if personal_fen < 0:
        raise BadInput("member", f"personal balance {format_yuan(personal_fen)} is negative")
    pooling_fen, how = 0, "medical: personal account only"
    if scheme is Scheme.PENSION:
        out = transfer_out(list(paid), source, personal_fen, on, policy)
        pooling_fen = out.pooling_moved_fen
        how = (
            f"{out.share_rate * 100:g}% of the bases of {sum(y.months for y in out.years)} "
            f"months since {out.counted_from} ({out.source})"
        )
    if personal_fen == 0 and pooling_fen == 0 and months == 0:
        raise BadInput("member", f"{member_id} has nothing to transfer from {source} on {on}")
    if personal_fen == 0 and pooling_fen == 0:
        how += f"; no money, {months} months paid there move (DOMAIN.md §5)"
    return EntryDraft.build(
        kind=EntryKind.TRANSFER_OUT,
        effective_date=on,
        idempotency_key=keys.transfer_step(keys.TRANSFER_OUT, transfer_id),
        reason=f"transfer {transfer_id}: {source} → {to_region}; personal "
        f"{format_yuan(personal_fen)} whole, pooling {format_yuan(pooling_fen)} = {how}",
        member_id=member_id,
        scheme=scheme.value,
        region=source,
        postings=[
            (personal(scheme.value, member_id), personal_fen),
            (pooling(scheme.value, source), pooling_fen),
            (transit(scheme.value), -(personal_fen + pooling_fen)),
        ],
        keep_zero_legs=personal_fen == 0 and pooling_fen == 0,
    )


def request(
    ledger: Ledger, conn: Connection, transfer_ids: Sequence[str], on: date
) -> list[Decision]:
    """Request each transfer on ``on``: load, decide, append once; the temporary accounts
    the decisions open are opened after the append."""
    facts = load_requests(conn, transfer_ids, on, ledger.clock.now().date())
    decisions = decide_requests(ledger.policy, facts, transfer_ids, on)
    ledger.recorder.append_new(conn, [d.draft for d in decisions if d.draft is not None])
    for decision in decisions:
        if decision.kept_in is not None and decision.leaving is not None:
            member_id, _, to_region, _ = keys.transfer_parts(decision.transfer_id)
            temporary.open_temporary(
                ledger, conn, member_id, decision.leaving, to_region, decision.kept_in, on
            )
    return decisions


def request_transfer(
    ledger: Ledger, conn: Connection, member_id: str, scheme: Scheme, to_region: str, on: date
) -> str:
    """Request one transfer (a batch of one); its id, or its refusal raised."""
    if scheme not in TRANSFERABLE:
        raise BadInput("scheme", f"{scheme} is not transferred between regions here")
    number = parse_citizen_id(member_id, today=ledger.clock.now().date(), field="member").number
    transfer_id = keys.transfer_id(number, scheme, to_region, on)
    [decision] = request(ledger, conn, [transfer_id], on)
    if decision.refused is not None:
        raise decision.refused
    return transfer_id


# ------------------------------------------------------------------ accepts and returns


def decide_accepts(
    ledger: Ledger, facts: StepFacts, transfer_ids: Sequence[str], on: date
) -> list[Decision]:
    """Each acceptance's decision, in order, with no I/O (``ledger``: its policy and the
    enrolment rules). The first rule that fails refuses it, in this order of precedence:

    1. the transfer left the source (``BadInput`` on ``transfer``);
    2. it was not returned (``TransferStateError``, naming the state); accepted already:
       already done;
    3. ``on`` is not before the day it left (``BadInput`` on ``on``);
    4. it left from an enrolment (``NotEnrolled``);
    5. the destination enrols the member as they were enrolled (``Ledger.check_enrolment``:
       the method, and the base in the destination's range, ``BaseOutOfRange``).
    """
    decisions = []
    seen: set[str] = set()
    for tid in transfer_ids:
        try:
            found = _in_transit(facts, tid, "accept", TransferStatus.IN, on)
            if found.status is TransferStatus.IN or tid in seen:
                decisions.append(Decision(tid, transfer=_status(found, TransferStatus.IN)))
                continue
            before = Ledger.enrolment_for(
                facts.enrolments.get((found.member_id, found.scheme), ()), Month.of(found.on)
            )
            if before is None:
                raise NotEnrolled("member", f"{found.member_id} left from no enrolment")
            ledger.check_enrolment(
                found.scheme,
                found.to_region,
                before.choice,
                Month.of(on),
                before.method,
                before.agency,
            )
        except LedgerError as refusal:
            decisions.append(Decision(tid, refused=refusal))
            continue
        seen.add(tid)
        draft = _back_draft(found, on, keys.TRANSFER_IN, found.to_region)
        decisions.append(
            Decision(tid, draft=draft, leaving=before, transfer=_status(found, TransferStatus.IN))
        )
    return decisions


def decide_returns(
    facts: StepFacts, transfer_ids: Sequence[str], on: date, reasons: Mapping[str, str]
) -> list[Decision]:
    """Each return's decision, in order, with no I/O; ``reasons``: why, by transfer. The
    first rule that fails refuses it, in this order of precedence:

    1. there is a reason (``BadInput`` on ``reason``);
    2. the transfer left the source (``BadInput`` on ``transfer``);
    3. it was not accepted (``TransferStateError``, naming the state); returned already:
       already done;
    4. ``on`` is not before the day it left (``BadInput`` on ``on``).
    """
    decisions = []
    seen: set[str] = set()
    for tid in transfer_ids:
        reason = reasons.get(tid, "").strip()
        try:
            if not reason:
                raise BadInput("reason", "a returned transfer needs a reason")
            found = _in_transit(facts, tid, "return", TransferStatus.RETURNED, on)
        except LedgerError as refusal:
            decisions.append(Decision(tid, refused=refusal))
            continue
        back = _status(found, TransferStatus.RETURNED)
        if found.status is TransferStatus.RETURNED or tid in seen:
            decisions.append(Decision(tid, transfer=back))
            continue
        seen.add(tid)
        draft = _back_draft(found, on, keys.TRANSFER_RETURN, found.from_region, reason)
        decisions.append(
            Decision(tid, draft=draft, transfer=replace(back, returned_because=reason))
        )
    return decisions


def _in_transit(
    facts: StepFacts, transfer_id: str, step: str, done: TransferStatus, on: date
) -> Transfer:
    """The transfer, if ``step`` may be taken (or was already: status ``done``)."""
    found = facts.transfers.get(transfer_id)
    if found is None:
        raise BadInput("transfer", f"there is no transfer {transfer_id!r}")
    if found.status not in (TransferStatus.OUT, done):
        raise TransferStateError(
            "transfer", f"cannot {step} transfer {transfer_id}: its status is {found.status}"
        )
    if found.status is TransferStatus.OUT and on < found.on:
        raise BadInput("on", f"{on} is before the transfer left on {found.on}")
    return found


def _back_draft(found: Transfer, on: date, step: str, region: str, reason: str = "") -> EntryDraft:
    """The entry that takes the money out of transit into ``region``: accepted there
    (``transfer-in``) or back at the source (``transfer-return``)."""
    scheme = found.scheme.value
    text = f"transfer {found.transfer_id}: accepted in {region}"
    if step == keys.TRANSFER_RETURN:
        text = f"transfer {found.transfer_id} returned to {region}: {reason}"
    return EntryDraft.build(
        kind=EntryKind.TRANSFER_IN if step == keys.TRANSFER_IN else EntryKind.TRANSFER_RETURN,
        effective_date=on,
        idempotency_key=keys.transfer_step(step, found.transfer_id),
        reason=text,
        member_id=found.member_id,
        scheme=scheme,
        region=region,
        postings=[
            (transit(scheme), found.personal_fen + found.pooling_fen),
            (personal(scheme, found.member_id), -found.personal_fen),
            (pooling(scheme, region), -found.pooling_fen),
        ],
        keep_zero_legs=found.personal_fen == 0 and found.pooling_fen == 0,
    )


def _status(found: Transfer, status: TransferStatus) -> Transfer:
    return replace(found, status=status)


def _takeable(found: Transfer | None, on: date) -> bool:
    return found is not None and found.status is TransferStatus.OUT and on >= found.on


def settle(
    ledger: Ledger, conn: Connection, transfer_ids: Sequence[str], on: date, reject: bool = True
) -> list[Decision]:
    """Accept each transfer on ``on`` and enrol the member at the destination; with
    ``reject``, a transfer in transit that the destination refuses goes back to the
    source in the same append, the refusal its reason (the decision then is the
    return's); a transfer not in transit is refused naming its state. One append."""
    facts = load_steps(conn, transfer_ids)
    accepts = decide_accepts(ledger, facts, transfer_ids, on)
    refused = {  # by the destination's rules (4 and 5 of ``decide_accepts``), not the state
        d.transfer_id: d.refused
        for d in accepts
        if d.refused is not None and _takeable(facts.transfers.get(d.transfer_id), on)
    }
    returns: dict[str, Decision] = {}
    if reject and refused:
        reasons = {tid: f"rejected by the destination: {why}" for tid, why in refused.items()}
        returns = {d.transfer_id: d for d in decide_returns(facts, list(refused), on, reasons)}
    drafts = [d.draft for d in accepts if d.draft is not None]
    ledger.recorder.append_new(conn, drafts + [d.draft for d in returns.values() if d.draft])
    for decision in accepts:
        if decision.draft is not None and decision.transfer and decision.leaving:
            _enrol_at_destination(ledger, conn, decision.transfer, decision.leaving, on)
    return [returns.get(d.transfer_id, d) for d in accepts]


def accept(
    ledger: Ledger, conn: Connection, transfer_ids: Sequence[str], on: date
) -> list[Decision]:
    """Accept each transfer; a refusal is the decision's, nothing goes back."""
    return settle(ledger, conn, transfer_ids, on, reject=False)


def _enrol_at_destination(
    ledger: Ledger, conn: Connection, found: Transfer, before: Enrolment, on: date
) -> None:
    """Enrolled where the money went from the month of ``on``, as the member was: the
    month of acceptance is paid at the destination, the source taking none after the
    transfer left."""
    ledger.enroll(
        conn,
        found.member_id,
        found.scheme,
        found.to_region,
        before.choice,
        Month.of(on),
        method=before.method,
        agency=before.agency,
    )


def return_(
    ledger: Ledger,
    conn: Connection,
    transfer_ids: Sequence[str],
    on: date,
    reasons: Mapping[str, str],
) -> list[Decision]:
    """Send each transfer's money back to the source: load, decide, append once."""
    decisions = decide_returns(load_steps(conn, transfer_ids), transfer_ids, on, reasons)
    ledger.recorder.append_new(conn, [d.draft for d in decisions if d.draft is not None])
    return decisions


def accept_transfer(ledger: Ledger, conn: Connection, transfer_id: str, on: date) -> Transfer:
    """Accept one transfer (a batch of one); the transfer, or its refusal raised."""
    [decision] = accept(ledger, conn, [transfer_id], on)
    return _one(decision)


def return_transfer(
    ledger: Ledger, conn: Connection, transfer_id: str, on: date, reason: str
) -> Transfer:
    """Return one transfer (rejected, or not accepted in time); the transfer, or its
    refusal raised."""
    [decision] = return_(ledger, conn, [transfer_id], on, {transfer_id: reason})
    return _one(decision)


def _one(decision: Decision) -> Transfer:
    if decision.refused is not None:
        raise decision.refused
    assert decision.transfer is not None, "an accepted or returned transfer is named"
    return decision.transfer
