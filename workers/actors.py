"""The actors: one member batch per message, each with exactly-once effect.

Every actor is a plain function ``fn(message_id, **primitives)`` registered with
``@job_actor``; ``declare(broker)`` binds them all to a broker (a bound actor reads its
message id from ``CurrentMessage``). Importing this module declares nothing and connects
to nothing: ``workers.app.start`` configures the broker and declares the actors at
start-up (``dramatiq workers.app:from_env`` runs the workers; ``flexledger worker`` does
exactly that).

Each function runs its batch in ``workers.runtime.exactly_once``: one transaction, one
SAVEPOINT per member (a member refused by a rule is reported and skipped, the rest
commit), the ``processed_messages`` row and the ``done`` status in the same commit. A
redelivered or duplicated message writes nothing. Messages carry ids and primitives only:
the dates as ISO text, the months as ``YYYY-MM``, members as citizen ID numbers.

Normal outcomes are not failures: a month already paid (``already-paid``), insufficient
funds or a closed account at the bank (counted under the bank's answer, the months stay
unpaid for the next run). A bank timeout is retried in place (``BANK_ATTEMPTS``, same
reference: the bank answers a settled reference with its first result, never charging
twice), then raised, so that the whole message is retried later with backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from ledger.domain import keys
from ledger.domain.errors import BankUnavailable, LedgerError, MonthAlreadyPaid
from ledger.domain.journal import EntryKind
from ledger.domain.period import Month
from ledger.domain.policy.assumed import with_assumed_interest
from ledger.domain.schemes import Scheme
from ledger.operations import fees, payments, transfers, withholding, yearplan
from ledger.operations.interest import credit
from workers import benefit_actors, runtime, verify_jobs
from workers.outbox import message_id as message_id_for
from workers.registry import ACTORS, bind, declare, declared, job_actor

# Importing this module registers every actor (the benefit phase's too); the registry's
# names are this module's public face for start-up and tests.
__all__ = ["ACTORS", "BANK_ATTEMPTS", "benefit_actors", "bind", "declare", "declared"]

BANK_ATTEMPTS = 3

# --- the actors -------------------------------------------------------------------------


@job_actor
def post_contributions_batch(
    message_id: str,
    run_key: str,
    scheme: str,
    member_ids: list[str],
    first: str,
    last: str,
    paid_on_iso: str,
    at_iso: str | None = None,
) -> None:
    """Pay ``first``..``last`` for each member in one scheme (``Ledger.contribute``):
    back-fills, tests; ``post_payments_batch`` for several schemes."""
    _pay(
        "post_contributions_batch",
        message_id,
        run_key,
        member_ids,
        first,
        last,
        paid_on_iso,
        at_iso,
        scheme,
    )


@job_actor
def post_payments_batch(
    message_id: str,
    run_key: str,
    pairs: list[list[str]],
    first: str,
    last: str,
    paid_on_iso: str,
    at_iso: str | None = None,
) -> None:
    """Pay ``first``..``last`` for each ``[member, scheme]`` (``Ledger.contribute``):
    members paying themselves, as a day's payments reported by the tax bureau, or a
    simulation's monthly payers. A member's schemes in one message write the member's
    index pages once, not once per scheme."""
    keys = [f"{member}/{scheme}" for member, scheme in pairs]
    _pay("post_payments_batch", message_id, run_key, keys, first, last, paid_on_iso, at_iso)


def _pay(
    actor: str,
    message_id: str,
    run_key: str,
    keys: list[str],
    first: str,
    last: str,
    paid_on_iso: str,
    at_iso: str | None,
    scheme: str | None = None,
) -> None:
    """Pay for each key: ``member/scheme``, or a member when ``scheme`` is given (the
    key is what a refusal is reported under)."""
    with runtime.exactly_once(message_id, actor, run_key, at_iso) as batch:
        if batch is None:
            return
        items: list[tuple[str, Scheme]] = []
        owners: list[str] = []
        for key in keys:
            member, _, named = (key, "", scheme) if scheme is not None else key.partition("/")
            try:
                items.append((member, Scheme.parse(named or "")))
            except LedgerError as refusal:
                batch.tally(key, refusal, 0, "posted", "replayed")
            else:
                owners.append(key)
        paid = payments.pay(
            batch.ledger,
            batch.conn,
            items,
            Month.parse(first),
            Month.parse(last),
            date.fromisoformat(paid_on_iso),
        )
        for key, one in zip(owners, paid, strict=True):
            batch.tally(
                key,
                one.decision.refused,
                len(one.created),
                "posted",
                "replayed",
                {MonthAlreadyPaid: "already-paid"},
            )


@job_actor
def bank_deduction_batch(
    message_id: str,
    run_key: str,
    scheme: str,
    year: int,
    member_ids: list[str],
    today_iso: str,
    seed: int,
    failure_rate: str | None = None,
    at_iso: str | None = None,
) -> None:
    """Deduct each member's unpaid months of ``year`` in one bank call (DOMAIN.md §9).

    ``seed`` and ``failure_rate`` choose the simulated bank (``Runtime.bank``).
    """
    with runtime.exactly_once(message_id, "bank_deduction_batch", run_key, at_iso) as batch:
        if batch is None:
            return
        chosen, today = Scheme.parse(scheme), date.fromisoformat(today_iso)
        bank = runtime.current().bank(seed, failure_rate)

        def patiently(call: Callable[[], Any]) -> Any:
            for _ in range(1, BANK_ATTEMPTS):
                try:
                    return call()
                except BankUnavailable:
                    pass
            return call()  # the last attempt's timeout aborts the message

        for one in withholding.deduct(
            batch.ledger, batch.conn, member_ids, chosen, year, bank, today, patiently
        ):
            outcome = one.outcome.value if one.outcome is not None else "nothing-due"
            batch.tally(one.member_id, one.refused, one.created, outcome, outcome)


@job_actor
def close_year_batch(
    message_id: str,
    run_key: str,
    scheme: str,
    year: int,
    member_ids: list[str],
    today_iso: str,
    at_iso: str | None = None,
) -> None:
    """Record as gaps the months of ``year`` each member can no longer pay (arrears)."""
    with runtime.exactly_once(message_id, "close_year_batch", run_key, at_iso) as batch:
        if batch is None:
            return
        chosen, today = Scheme.parse(scheme), date.fromisoformat(today_iso)
        for one in yearplan.close(batch.ledger, batch.conn, member_ids, chosen, year, today):
            batch.tally(one.member_id, one.refused, len(one.gaps), "gaps", "nothing-due")


@job_actor
def affiliate_fees_batch(
    message_id: str,
    run_key: str,
    month: str,
    pairs: list[list[str]],
    today_iso: str,
    at_iso: str | None = None,
) -> None:
    """Charge ``month`` for each ``[member, scheme]`` paying through an HR company: the
    contribution the company pays and its fee (``ledger.operations.fees.charge``)."""
    with runtime.exactly_once(message_id, "affiliate_fees_batch", run_key, at_iso) as batch:
        if batch is None:
            return
        items = [(member, Scheme.parse(scheme, "pairs")) for member, scheme in pairs]
        charged = fees.charge(
            batch.ledger, batch.conn, items, Month.parse(month), date.fromisoformat(today_iso)
        )
        for done in charged:
            member, scheme = done.decision.item
            batch.tally(
                f"{member}/{scheme}",
                done.decision.refused,
                len(done.created),
                "charged",
                "replayed",
            )


@job_actor
def interest_batch(
    message_id: str,
    run_key: str,
    scheme: str,
    year: int,
    accounts: list[str],
    assumed_rate: str | None = None,
    at_iso: str | None = None,
) -> None:
    """Credit ``year``'s interest to each personal account (``interest.credit``); a
    run after a new rate was published posts only the corrections.

    ``assumed_rate``: a projection's provisional rate for the years with no rate
    published yet (a simulation's scenario), recorded as such in the entries' reasons.
    """

    with runtime.exactly_once(message_id, "interest_batch", run_key, at_iso) as batch:
        if batch is None:
            return
        chosen = Scheme.parse(scheme)
        ledger, conn = batch.ledger, batch.conn
        policy = ledger.policy
        if assumed_rate is not None:
            ledger.policy = with_assumed_interest(policy, Decimal(assumed_rate), year)
        try:
            done = {
                d.decision.item: d for d in credit(ledger, conn, year, chosen, accounts=accounts)
            }
        finally:
            ledger.policy = policy
        for account in dict.fromkeys(accounts):
            decision = done[account].decision
            created = len(done[account].created)
            batch.tally(account, decision.refused, created, "credited", "unchanged")


TRANSFER_STEPS = ("request", "accept", "return")


@job_actor
def transfer_step(
    message_id: str,
    transfer_id: str,
    step: str,
    on_iso: str,
    reason: str = "",
    run_key: str | None = None,
    at_iso: str | None = None,
) -> None:
    """One step of a transfer between regions (``ledger.operations.transfers``).

    ``request`` posts the money out of the source and, in the same transaction, writes the
    ``accept`` message for the destination (the outbox: the step cannot be lost between
    the two sides); ``accept`` takes it in, or, if the destination's rules refuse it (a
    base outside its range, say), returns it in the same transaction, the refusal as the
    reason; ``return`` sends it back (timed out, with ``reason``). Each side is
    idempotent: a step taken already writes nothing. ``run_key`` defaults to
    ``transfer:<id>``; a timeout sweep passes its own. ``at_iso`` (a simulation's story
    time) goes on to the chained ``accept``.
    """
    run_key = run_key or keys.transfer_run(transfer_id)
    _transfers(
        "transfer_step",
        message_id,
        run_key,
        step,
        [transfer_id],
        on_iso,
        reason,
        at_iso,
        lambda ids: {"transfer_id": ids[0]},
    )


@job_actor
def transfers_batch(
    message_id: str,
    run_key: str,
    step: str,
    transfer_ids: list[str],
    on_iso: str,
    reason: str = "",
    at_iso: str | None = None,
) -> None:
    """``transfer_step`` for many transfers of one day (members moving together, a
    simulation's July): each step in one pass (``ledger.operations.transfers``), and one
    ``accept`` message chained for all the requests that went out."""
    _transfers(
        "transfers_batch",
        message_id,
        run_key,
        step,
        transfer_ids,
        on_iso,
        reason,
        at_iso,
        lambda ids: {"transfer_ids": ids},
    )


def _transfers(
    actor: str,
    message_id: str,
    run_key: str,
    step: str,
    transfer_ids: list[str],
    on_iso: str,
    reason: str,
    at_iso: str | None,
    naming: Callable[[list[str]], dict],
) -> None:
    if step not in TRANSFER_STEPS:
        raise ValueError(f"transfer step {step!r} is not one of {', '.join(TRANSFER_STEPS)}")
    with runtime.exactly_once(message_id, actor, run_key, at_iso) as batch:
        if batch is None:
            return
        on = date.fromisoformat(on_iso)
        ledger, conn = batch.ledger, batch.conn
        if step == "request":
            decisions = transfers.request(ledger, conn, transfer_ids, on)
        elif step == "accept":  # what the destination refuses goes back, the refusal why
            decisions = transfers.settle(ledger, conn, transfer_ids, on)
        else:
            why = reason or "not accepted"
            decisions = transfers.return_(
                ledger, conn, transfer_ids, on, dict.fromkeys(transfer_ids, why)
            )
        for decision in decisions:
            outcome = step
            if decision.temporary:  # 66号 Art. 5 (2)
                outcome = "temporary-account"
            elif (
                step == "accept"
                and decision.draft
                and decision.draft.kind is EntryKind.TRANSFER_RETURN
            ):
                outcome = "rejected"
            posted = int(decision.draft is not None)
            batch.tally(decision.transfer_id, decision.refused, posted, outcome, outcome)
        requested = [
            *{
                d.transfer_id: None
                for d in decisions
                if step == "request"
                and d.refused is None
                and not d.temporary
                and (d.transfer is None or d.transfer.status is transfers.TransferStatus.OUT)
            }
        ]  # drafted now, or requested before and still in transit; each once
        if requested:
            batch.enqueue(
                actor,
                {**naming(requested), "step": "accept", "on_iso": on_iso}
                | ({"at_iso": at_iso} if at_iso else {})
                | ({"run_key": run_key} if actor == "transfers_batch" else {}),
                message_id_for(run_key, "accept"),
                run_key=run_key,
            )


@job_actor
def verify_ledger(message_id: str, run_key: str, token_id: int) -> None:
    """Verify the whole chain and record the run (started over the API: see
    ``workers.verify_jobs``); a message done before writes nothing."""
    rt = runtime.current()
    verify_jobs.run(rt.engine(), rt.clock, message_id, run_key, token_id)
