"""The auditor's answers as JSON-ready dicts: one shape for the CLI's ``--json`` and the API.

Amounts are yuan strings with two places (``ledger.domain.money.format_yuan``), debit positive
and credit negative, except the pooling funds, which are credit-positive; dates are ISO
``YYYY-MM-DD``, times ISO with their UTC offset. Field order is the contract's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from ledger.domain.money import format_yuan
from ledger.store.queries import (
    AffiliatedArrangement,
    ContributionMonths,
    Holding,
    PaymentBought,
    StatementLine,
)

PLACE_CLAUSES = {
    1: "国办发〔2009〕66号 Art. 6 (1): the hukou place, where the relationship is",
    2: "国办发〔2009〕66号 Art. 6 (2): the place of the relationship, with ≥ 10 years",
    3: "国办发〔2009〕66号 Art. 6 (3): the last earlier place with ≥ 10 years",
    4: "国办发〔2009〕66号 Art. 6 (4): the hukou place, no place having ≥ 10 years",
}


def iso(moment: date | datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def balance_view(account: str, as_of: date, known_at: datetime | None, total_fen: int) -> dict:
    return {
        "account": account,
        "as_of": as_of.isoformat(),
        "known_at": iso(known_at),
        "balance": format_yuan(total_fen),
    }


def trial_balance_view(
    as_of: date, known_at: datetime | None, rows: Sequence[tuple[str, int]]
) -> dict:
    return {
        "as_of": as_of.isoformat(),
        "known_at": iso(known_at),
        "accounts": [{"account": name, "balance": format_yuan(amount)} for name, amount in rows],
        "total": format_yuan(sum(amount for _, amount in rows)),
    }


def statement_line_view(line: StatementLine) -> dict:
    return {
        "entry_id": line.entry_id,
        "effective_date": line.effective_date.isoformat(),
        "recorded_at": line.recorded_at.isoformat(),
        "kind": line.kind,
        "period": line.period,
        "scheme": line.scheme,
        "region": line.region,
        "account": line.account,
        "amount": format_yuan(line.amount_fen),
        "balance": format_yuan(line.balance_fen),
        "reason": line.reason,
    }


def holding_view(held: Holding) -> dict:
    return {
        "account": held.account,
        "owned": format_yuan(held.owned_fen),
        "postings": held.postings,
        "last_date": held.last_date.isoformat(),
    }


def payment_view(paid: PaymentBought) -> dict:
    return {
        "entry_id": paid.entry_id,
        "effective_date": paid.effective_date.isoformat(),
        "kind": paid.kind,
        "period": paid.period,
        "scheme": paid.scheme,
        "region": paid.region,
        "paid": format_yuan(paid.paid_fen),
        "personal": format_yuan(paid.personal_fen),
        "pooling": format_yuan(paid.pooling_fen),
        "subsidy": format_yuan(paid.subsidy_fen),
        "personal_balance": format_yuan(paid.personal_balance_fen),
    }


def statement_view(
    member: str,
    as_of: date | None,
    known_at: datetime | None,
    lines: Iterable[StatementLine],
    held: Iterable[Holding],
    bought: Iterable[PaymentBought],
) -> dict:
    """What the member owns, what each payment bought, and the statement's lines."""
    return {
        "member": member,
        "as_of": iso(as_of),
        "known_at": iso(known_at),
        "accounts": [holding_view(h) for h in held],
        "payments": [payment_view(p) for p in bought],
        "lines": [statement_line_view(line) for line in lines],
    }


def pooling_view(as_of: date, known_at: datetime | None, rows: Sequence[tuple[str, str, int]]):
    return {
        "as_of": as_of.isoformat(),
        "known_at": iso(known_at),
        "sign": "credit-positive",
        "pools": [
            {"scheme": scheme, "region": region, "balance": format_yuan(amount)}
            for scheme, region, amount in rows
        ],
    }


def pension_place_view(place: Any) -> dict | None:
    if place is None:
        return None
    return {
        "region": place.region,
        "rule": place.rule,
        "clause": PLACE_CLAUSES[place.rule],
        "reason": place.reason,
    }


def months_view(
    rows: Sequence[ContributionMonths], member: str | None, place: Any = None
) -> dict[str, object]:
    found: dict[str, object] = {
        "months": [
            {
                "member": r.member_id,
                "scheme": r.scheme,
                "region": r.region,
                "months": r.months,
                "first": r.first,
                "last": r.last,
                "held_in": r.held_in,
            }
            for r in rows
        ]
    }
    if member is not None:
        found["pension_paid_in"] = pension_place_view(place)
    return found


def arrangements_view(rows: Sequence[AffiliatedArrangement]) -> dict:
    return {
        "arrangements": [
            {
                "member": r.member_id,
                "scheme": r.scheme,
                "region": r.region,
                "agency": r.agency,
                "from": r.from_month,
                "to": r.to_month,
                "recorded_at": r.recorded_at.isoformat(),
            }
            for r in rows
        ]
    }


def verify_view(report: Any, anchored: tuple[int, str] | None = None) -> dict:
    """``verify``'s result: counts, the first bad entry, the first 100 problems."""
    head = {"entry": anchored[0], "hash": anchored[1]} if anchored else None
    return {
        "ok": report.ok,
        "entries": report.entries,
        "postings": report.postings,
        "anchors": report.anchors,
        "checkpoints": report.checkpoints,
        "first_bad_entry": report.first_bad_entry,
        "problems": report.problems[:100],
        "anchored": head,
    }
