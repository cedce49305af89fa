"""The actors: one member batch per message, each with exactly-once effect.

Every actor is a plain function ``fn(message_id, **primitives)`` registered with
``@job_actor``; ``declare(broker)`` binds them all to a broker (a bound actor reads its
message id from ``CurrentMessage``). Importing this module declares them on dramatiq's
global broker, configuring it from the environment first if nobody has (so
``dramatiq workers.actors`` runs the workers; ``flexledger worker`` does exactly that).

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

import functools
from collections.abc import Callable
from datetime import date
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from ledger.period import Month
from ledger.schemes import Scheme
from ledger.store.recorder import MonthAlreadyPaid
from workers import runtime
from workers.outbox import QUEUE

BANK_ATTEMPTS = 3

ACTORS: dict[str, Callable[..., Any]] = {}
declared: dict[str, dramatiq.Actor] = {}


def job_actor(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``fn(message_id, **kwargs)`` to be declared as the actor ``fn.__name__``."""
    ACTORS[fn.__name__] = fn
    return fn


def bind(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as an actor body: the message id comes from the message being processed."""

    @functools.wraps(fn)
    def body(*args: Any, **kwargs: Any) -> None:
        message = CurrentMessage.get_current_message()
        if message is None:
            raise RuntimeError(f"{fn.__name__} runs in a worker; call it with a message id")
        fn(message.message_id, *args, **kwargs)

    return body


def declare(broker: dramatiq.Broker) -> dict[str, dramatiq.Actor]:
    """Declare every registered actor on ``broker`` (again, if a test changed brokers)."""
    declared.clear()
    for name, fn in ACTORS.items():
        if name in broker.actors:  # declared when this module was first imported
            declared[name] = broker.actors[name]
        else:
            declared[name] = dramatiq.actor(
                bind(fn), actor_name=name, queue_name=QUEUE, broker=broker
            )
    return declared


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
) -> None:
    """Pay ``first``..``last`` for each member (``Ledger.contribute``): tests and back-fills."""
    with runtime.exactly_once(message_id, "post_contributions_batch", run_key) as batch:
        if batch is None:
            return
        chosen, start, end = Scheme.parse(scheme), Month.parse(first), Month.parse(last)
        paid_on = date.fromisoformat(paid_on_iso)

        def handle(member: str) -> tuple[str, int]:
            recorded = batch.ledger.contribute(batch.conn, member, chosen, start, end, paid_on)
            created = sum(1 for r in recorded if r.created)
            return ("posted" if created else "replayed"), created

        batch.each(member_ids, handle, {MonthAlreadyPaid: "already-paid"})


@job_actor
def bank_deduction_batch(
    message_id: str,
    run_key: str,
    scheme: str,
    year: int,
    member_ids: list[str],
    today_iso: str,
    seed: int,
) -> None:
    """Deduct each member's unpaid months of ``year`` in one bank call (DOMAIN.md §9)."""
    from ledger.operations.bank import BankUnavailable, deduct_member_year

    with runtime.exactly_once(message_id, "bank_deduction_batch", run_key) as batch:
        if batch is None:
            return
        chosen, today = Scheme.parse(scheme), date.fromisoformat(today_iso)
        bank = runtime.current().bank(seed)

        def handle(member: str) -> tuple[str, int]:
            for attempt in range(1, BANK_ATTEMPTS + 1):
                try:
                    with batch.conn.begin_nested():
                        result = deduct_member_year(
                            batch.ledger, batch.conn, member, chosen, year, bank, today
                        )
                    break
                except BankUnavailable:
                    batch.forget_accounts()
                    if attempt == BANK_ATTEMPTS:
                        raise
            outcome = result.outcome.value if result.outcome is not None else "nothing-due"
            return outcome, len(result.posted) + len(result.gaps)

        batch.each(member_ids, handle, {MonthAlreadyPaid: "already-paid"})


@job_actor
def close_year_batch(
    message_id: str, run_key: str, scheme: str, year: int, member_ids: list[str], today_iso: str
) -> None:
    """Record as gaps the months of ``year`` each member can no longer pay (arrears)."""
    from ledger.operations.bank import record_gaps

    with runtime.exactly_once(message_id, "close_year_batch", run_key) as batch:
        if batch is None:
            return
        chosen, today = Scheme.parse(scheme), date.fromisoformat(today_iso)

        def handle(member: str) -> tuple[str, int]:
            recorded = record_gaps(batch.ledger, batch.conn, member, chosen, year, today)
            created = sum(1 for r in recorded if r.created)
            return ("gaps" if created else "nothing-due"), created

        batch.each(member_ids, handle)


@job_actor
def affiliate_fees_batch(
    message_id: str, run_key: str, month: str, pairs: list[list[str]], today_iso: str
) -> None:
    """Charge ``month`` for each ``[member, scheme]`` paying through an HR company: the
    contribution the company pays and its fee (``ledger.operations.fees.charge_month``)."""
    from ledger.operations.fees import charge_month

    with runtime.exactly_once(message_id, "affiliate_fees_batch", run_key) as batch:
        if batch is None:
            return
        period, today = Month.parse(month), date.fromisoformat(today_iso)

        def handle(key: str) -> tuple[str, int]:
            member, _, scheme = key.partition("/")
            created = charge_month(
                batch.ledger, batch.conn, member, Scheme.parse(scheme), period, today
            )
            return ("charged" if created else "replayed"), len(created)

        batch.each([f"{member}/{scheme}" for member, scheme in pairs], handle)


@job_actor
def interest_batch(
    message_id: str, run_key: str, scheme: str, year: int, accounts: list[str]
) -> None:
    """Credit ``year``'s interest to each personal account (``interest.credit_year``); a
    run after a new rate was published posts only the corrections."""
    from ledger.operations.interest import credit_year

    with runtime.exactly_once(message_id, "interest_batch", run_key) as batch:
        if batch is None:
            return
        chosen = Scheme.parse(scheme)

        def handle(account: str) -> tuple[str, int]:
            created = credit_year(batch.ledger, batch.conn, year, chosen, accounts=[account])
            return ("credited" if created else "unchanged"), len(created)

        batch.each(accounts, handle)


TRANSFER_STEPS = ("request", "accept", "return")


@job_actor
def transfer_step(
    message_id: str,
    transfer_id: str,
    step: str,
    on_iso: str,
    reason: str = "",
    run_key: str | None = None,
) -> None:
    """One step of a transfer between regions (``ledger.operations.transfers``).

    ``request`` posts the money out of the source and, in the same transaction, writes the
    ``accept`` message for the destination (the outbox: the step cannot be lost between
    the two sides); ``accept`` takes it in, or, if the destination's rules refuse it (a
    base outside its range, say), returns it in the same transaction, the refusal as the
    reason; ``return`` sends it back (timed out, with ``reason``). Each side is
    idempotent: a step taken already writes nothing. ``run_key`` defaults to
    ``transfer:<id>``; a timeout sweep passes its own.
    """
    from ledger.errors import LedgerError
    from ledger.operations import transfers
    from workers.broker import is_transient
    from workers.outbox import message_id as message_id_for

    if step not in TRANSFER_STEPS:
        raise ValueError(f"transfer step {step!r} is not one of {', '.join(TRANSFER_STEPS)}")
    run_key = run_key or f"transfer:{transfer_id}"
    with runtime.exactly_once(message_id, "transfer_step", run_key) as batch:
        if batch is None:
            return
        on = date.fromisoformat(on_iso)

        def handle(tid: str) -> tuple[str, int]:
            ledger, conn = batch.ledger, batch.conn
            if step == "request":
                member, scheme, to = _transfer_parts(tid)
                transfers.request_transfer(ledger, conn, member, Scheme.parse(scheme), to, on)
                batch.enqueue(
                    "transfer_step",
                    {"transfer_id": tid, "step": "accept", "on_iso": on_iso},
                    message_id_for(run_key, "accept"),
                    run_key=run_key,
                )
            elif step == "accept":
                try:
                    with conn.begin_nested():
                        transfers.accept_transfer(ledger, conn, tid, on)
                except LedgerError as refused:
                    if is_transient(refused):
                        raise
                    batch.forget_accounts()
                    transfers.return_transfer(
                        ledger, conn, tid, on, f"rejected by the destination: {refused}"
                    )
                    return "rejected", 1
                return step, 1
            else:
                transfers.return_transfer(ledger, conn, tid, on, reason or "not accepted")
            return step, 1

        batch.each([transfer_id], handle)


def _transfer_parts(transfer_id: str) -> tuple[str, str, str]:
    """(member, scheme, destination) from ``<member>-<scheme>-<to>-<YYYYMMDD>``."""
    member, rest = transfer_id.split("-", 1)
    scheme, to, _on = rest.rsplit("-", 2)
    return member, scheme, to


if dramatiq.broker.global_broker is None:
    from ledger.config import Settings
    from workers.broker import configure

    configure(Settings.from_env())
declare(dramatiq.get_broker())
