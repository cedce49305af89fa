"""Accepting and returning transfers: one path for one transfer and for a day's thousands.

``load_steps`` reads the batch's transfers and the movers' enrolments; ``decide_accepts``
and ``decide_returns`` decide each with no I/O; ``settle``, ``accept`` and ``return_``
append once. An accepted member is enrolled at the destination as they were enrolled at
the source, from the month of acceptance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from sqlalchemy import Connection

from ledger.domain import keys
from ledger.domain.accounts import personal, pooling, transit
from ledger.domain.errors import BadInput, LedgerError, NotEnrolled, TransferStateError
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.members import Enrolment
from ledger.domain.period import Month
from ledger.operations.services import Ledger
from ledger.operations.transfer_facts import Decision, StepFacts, load_steps
from ledger.operations.transfer_journal import Transfer, TransferStatus


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
    ledger.recorder.append(conn, drafts + [d.draft for d in returns.values() if d.draft])
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
    ledger.recorder.append(conn, [d.draft for d in decisions if d.draft is not None])
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
