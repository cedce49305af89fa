"""The benefit phase's actors: pensions paid, retirements, deaths, late adjustments.

Each runs its batch in ``workers.runtime.exactly_once``, in one pass (the late
adjustments' one call in a SAVEPOINT, ``Batch.each``).
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from ledger.domain.errors import LedgerError
from ledger.domain.period import Month
from ledger.operations.adjustments import post_adjustments
from ledger.operations.deaths import record
from ledger.operations.pension_payments import pay
from ledger.operations.retirements import retire
from workers import runtime
from workers.registry import job_actor


@job_actor
def pension_payments_batch(
    message_id: str,
    run_key: str,
    month: str,
    member_ids: list[str],
    today_iso: str,
    at_iso: str | None = None,
) -> None:
    """Pay ``month``'s pension to each member (``ledger.operations.pension_payments.pay``):
    basic pension from the pooling fund, the personal-account pension from the account
    while it lasts. A month paid already writes nothing (key ``pension:<month>:<member>``)."""
    with runtime.exactly_once(message_id, "pension_payments_batch", run_key, at_iso) as batch:
        if batch is None:
            return
        period, today = Month.parse(month), date.fromisoformat(today_iso)
        refused: dict[str, LedgerError] = {}
        posted: Counter[str] = Counter()
        for done in pay(batch.ledger, batch.conn, member_ids, period, today):
            member = done.decision.item[0]
            if done.decision.refused is not None:
                refused.setdefault(member, done.decision.refused)
            posted[member] += len(done.created)
        for member in dict.fromkeys(member_ids):
            batch.tally(member, refused.get(member), posted[member], "paid", "nothing-due")


@job_actor
def retirements_batch(
    message_id: str,
    run_key: str,
    retirements: list[list[str]],
    short_choice: str,
    at_iso: str | None = None,
) -> None:
    """Each ``[member, retirement day]`` or ``[member, retirement day, category]`` in one
    pass (``ledger.operations.retirements``): the pension awarded, in the retirement
    category given (default by sex), or, for a member short of the minimum months,
    ``short_choice`` recorded (``refund`` or ``resident``)."""
    with runtime.exactly_once(message_id, "retirements_batch", run_key, at_iso) as batch:
        if batch is None:
            return
        items = [
            (row[0], date.fromisoformat(row[1]), row[2] if len(row) > 2 else None)
            for row in retirements
        ]
        done = retire(batch.ledger, batch.conn, items, short_choice)
        for row, (decision, written) in zip(retirements, done, strict=True):
            outcome = decision.outcome
            batch.tally("/".join(row), decision.refused, len(written), outcome, outcome)


@job_actor
def deaths_batch(
    message_id: str, run_key: str, deaths: list[list[str]], at_iso: str | None = None
) -> None:
    """Each ``[member, day of death]`` in one pass (``ledger.operations.deaths``): the
    month of death paid if it was not, the personal accounts left owed to the heirs, no
    pension after."""
    with runtime.exactly_once(message_id, "deaths_batch", run_key, at_iso) as batch:
        if batch is None:
            return
        asked = [(member, date.fromisoformat(on_iso)) for member, on_iso in deaths]
        recorded = record(batch.ledger, batch.conn, asked)
        for (member, on_iso), (decision, written) in zip(deaths, recorded, strict=True):
            batch.tally(f"{member}/{on_iso}", decision.refused, len(written), "died", "recorded")


@job_actor
def late_adjustments(
    message_id: str, run_key: str, today_iso: str, at_iso: str | None = None
) -> None:
    """Adjust the months paid before a late announcement to the figures announced
    (``ledger.operations.adjustments.post_adjustments``: only windows published on ``today``)."""
    with runtime.exactly_once(message_id, "late_adjustments", run_key, at_iso) as batch:
        if batch is None:
            return
        today = date.fromisoformat(today_iso)

        def handle(_: str) -> tuple[str, int]:
            recorded = post_adjustments(batch.ledger, batch.conn, today)
            created = sum(1 for r in recorded if r.created)
            return ("adjusted" if created else "unchanged"), created

        batch.each([today_iso], handle)
