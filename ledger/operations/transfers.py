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

Each step is one path for one transfer and for a day's thousands: the batch's facts are
loaded in a few queries (``transfer_facts``), each transfer is decided with no I/O
(``decide_requests`` here, ``decide_accepts`` and ``decide_returns`` in
``transfer_steps``): an entry to append, a refusal with the first rule that fails, or
already done; then ``request``, ``accept``, ``settle`` or ``return_`` appends once. The
items of a batch are decided in order, each seeing what the ones before it decided (a
second request of a member in transit is refused). A step written meanwhile by another
worker makes the append raise ``WriteRaced``: the message is rolled back and done again
on fresh facts.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from ledger.domain.money import format_yuan
from ledger.domain.period import Month
from ledger.domain.policy.loader import PolicySet
from ledger.domain.rules.transfer import PaidMonth, transfer_out
from ledger.domain.schemes import Scheme
from ledger.operations import temporary
from ledger.operations.services import Ledger
from ledger.operations.transfer_facts import (
    TRANSFERABLE,
    Decision,
    RequestFacts,
    load_requests,
    months_paid,
    paid_months,
)
from ledger.operations.transfer_journal import (
    Transfer,
    TransferStatus,
    find_transfer,
    find_transfers,
    in_transit,
    member_transfers,
)
from ledger.operations.transfer_steps import (
    accept,
    accept_transfer,
    decide_accepts,
    decide_returns,
    return_,
    return_transfer,
    settle,
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
    ledger.recorder.append(conn, [d.draft for d in decisions if d.draft is not None])
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
