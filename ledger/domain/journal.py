"""Entries and postings, their canonical text and the hash chain: the invariants of double entry.

Invariants (each also enforced by the database, see ``ledger/store/``):
- an entry has at least two postings and its postings sum to zero (balanced);
- amounts are integer fen, signed **debit positive, credit negative**, so a trial
  balance over every account sums to zero;
- nothing is updated or deleted: a correction is a new entry whose ``corrects`` names the
  entry it corrects and whose ``reason`` says why;
- each entry carries ``hash = sha256(prev_hash + canonical content)``: changing any stored
  entry or posting breaks the chain from that entry on (``flexledger verify`` names it).

Account names and their types are in ``ledger.domain.accounts``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache

from ledger.domain.accounts import check_account
from ledger.domain.errors import EntryNotBalanced

GENESIS_HASH = "0" * 64


class EntryKind(StrEnum):
    """What an entry records; ``contribution`` is one member's month (or year) for a scheme."""

    CONTRIBUTION = "contribution"
    ADJUSTMENT = "adjustment"
    CORRECTION = "correction"
    FEE = "fee"
    ARREARS = "arrears"
    TRANSFER_OUT = "transfer-out"
    TRANSFER_IN = "transfer-in"
    TRANSFER_RETURN = "transfer-return"
    INTEREST = "interest"
    OPENING = "opening"
    # Money the bank collected for months that were paid otherwise before the deduction
    # was recorded (a lost commit, then the member paid): owed back to the member.
    OVERPAYMENT = "overpayment"
    # The benefit phase (DOMAIN.md §6): a month's pension paid out, a dead member's
    # personal account owed to the heirs, a personal account refunded when the insurance
    # ends short of the minimum, a personal account moved into the residents' scheme.
    PENSION_PAYMENT = "pension-payment"
    INHERITANCE = "inheritance"
    REFUND = "refund"
    SCHEME_CHANGE = "scheme-change"
    # At retirement, 12% of the bases paid in a temporary account's place moves to the
    # pooling fund of the region that pays the pension (国办发〔2009〕66号 Art. 4, 5).
    TEMPORARY_COLLECTION = "temporary-collection"


@dataclass(frozen=True, slots=True)
class Posting:
    """One leg of an entry: an account and a signed amount in fen (debit positive).

    Checked by ``EntryDraft.build``, the only way postings enter a draft.
    """

    account: str
    amount_fen: int


@lru_cache(maxsize=200_000)
def _checked(name: str) -> str:
    """Account names recur by the million in bulk posting: check each name once."""
    return check_account(name)


_PERIOD = re.compile(r"^\d{4}-\d{2}$")


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """An entry before it is recorded: everything but its id, recorded time and hashes.

    Built only through ``EntryDraft.build``, which checks the invariants: at least two
    postings, integer fen, summing to zero, accounts from the chart, a key of 1–200
    characters. Plain slotted dataclass rather than a pydantic model: bulk simulations
    build millions of these, and the checks are few and explicit.
    """

    kind: EntryKind
    effective_date: date
    idempotency_key: str
    postings: tuple[Posting, ...]
    reason: str = ""
    period: str | None = None
    member_id: str | None = None
    scheme: str | None = None
    region: str | None = None
    base_fen: int | None = None
    corrects: int | None = None
    # The canonical text, when whoever built the draft wrote it already (``Redraft``);
    # not part of the content: ``canonical()`` is what it must equal. Not an argument, so
    # ``dataclasses.replace`` of a draft drops it rather than carry a stale text.
    canonical_text: str | None = field(default=None, init=False, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        *,
        kind: EntryKind | str,
        effective_date: date,
        idempotency_key: str,
        postings: Iterable[Posting | tuple[str, int]],
        reason: str = "",
        period: str | None = None,
        member_id: str | None = None,
        scheme: str | None = None,
        region: str | None = None,
        base_fen: int | None = None,
        corrects: int | None = None,
        keep_zero_legs: bool = False,
    ) -> EntryDraft:
        """Check and construct; zero-amount legs are dropped (they carry nothing).

        ``keep_zero_legs``: an entry that records a move of months but no money (a medical
        transfer of an empty personal account, DOMAIN.md §5) keeps its legs at zero, so it
        still names the accounts and balances; it needs two legs like any other.
        """
        legs: list[Posting] = []
        total = 0
        for leg in postings:
            account, amount = (leg.account, leg.amount_fen) if isinstance(leg, Posting) else leg
            if type(amount) is not int:
                raise EntryNotBalanced(f"{account}: amount_fen must be an integer number of fen")
            if amount or keep_zero_legs:
                legs.append(Posting(_checked(account), amount))
                total += amount
        if len(legs) < 2:
            raise EntryNotBalanced(f"{idempotency_key}: an entry needs at least two postings")
        if total != 0:
            raise EntryNotBalanced(f"{idempotency_key}: postings sum to {total} fen, not 0")
        if not 1 <= len(idempotency_key) <= 200:
            raise EntryNotBalanced("idempotency_key must be 1 to 200 characters")
        if period is not None and not _PERIOD.match(period):
            raise EntryNotBalanced(f"period {period!r} is not YYYY-MM")
        return cls(
            EntryKind(kind),
            effective_date,
            idempotency_key,
            tuple(legs),
            reason,
            period,
            member_id,
            scheme,
            region,
            base_fen,
            corrects,
        )

    def content(self) -> dict[str, object]:
        """The content that the hash and the idempotency check cover, as a dict."""
        return {
            "kind": self.kind.value,
            "effective_date": self.effective_date.isoformat(),
            "idempotency_key": self.idempotency_key,
            "reason": self.reason,
            "period": self.period,
            "member_id": self.member_id,
            "scheme": self.scheme,
            "region": self.region,
            "base_fen": self.base_fen,
            "corrects": self.corrects,
            "postings": [[p.account, p.amount_fen] for p in self.postings],
        }

    def canonical(self) -> str:
        """The content as canonical JSON (sorted keys, no spaces, UTF-8)."""
        if self.canonical_text is not None:
            return self.canonical_text
        return canonical_of(
            self.kind.value,
            self.effective_date.isoformat(),
            self.idempotency_key,
            self.reason,
            self.period,
            self.member_id,
            self.scheme,
            self.region,
            self.base_fen,
            self.corrects,
            [(p.account, p.amount_fen) for p in self.postings],
        )

    def fingerprint(self) -> str:
        """A digest of the content alone: the same command yields the same fingerprint."""
        return fingerprint_of(self.canonical())


_string = json.encoder.encode_basestring


def _opt(value: str | None) -> str:
    return "null" if value is None else _string(value)


def canonical_of(
    kind: str,
    effective_date: str,
    idempotency_key: str,
    reason: str,
    period: str | None,
    member_id: str | None,
    scheme: str | None,
    region: str | None,
    base_fen: int | None,
    corrects: int | None,
    legs: Iterable[tuple[str, int]],
) -> str:
    """The canonical text of an entry's content: what its fingerprint and chain hash cover.

    The one place it is built (drafts, ``Redraft``'s copies and ``verify`` all call it):
    JSON with sorted keys, no spaces, UTF-8 (``docs/SCHEMA.md``), written out directly
    because bulk posting hashes millions of entries and a generic encoder is several times
    slower. A property test holds it to ``json.dumps(sort_keys=True)`` of the fields.
    """
    postings = ",".join(f"[{_string(account)},{amount}]" for account, amount in legs)
    return (
        f'{{"base_fen":{"null" if base_fen is None else base_fen},'
        f'"corrects":{"null" if corrects is None else corrects},'
        f'"effective_date":{_string(effective_date)},'
        f'"idempotency_key":{_string(idempotency_key)},"kind":{_string(kind)},'
        f'"member_id":{_opt(member_id)},"period":{_opt(period)},"postings":[{postings}],'
        f'"reason":{_string(reason)},"region":{_opt(region)},"scheme":{_opt(scheme)}}}'
    )


_set = object.__setattr__  # a frozen draft's one late field
_MEMBER = "\ue000member\ue000"  # a private-use mark no account, key or reason contains


class Redraft:
    """Copies of one checked draft for other members: a batch's contributions.

    The copies keep the template's kind, day, amounts, reason, period, scheme, region and
    base; what changes is the member, the key (``key_prefix + member + key_suffix``) and
    the member's own account (``account_prefix + member``), the one leg of the template
    on the template member's such account, if it has one. The copies' canonical text is
    the template's with the member put in three places, so it is written once, split
    where the member goes, and joined per member instead of rebuilt; a test holds it to
    ``canonical_of`` of the copy's fields, and ``verify`` recomputes it from the rows.
    """

    __slots__ = (
        "account_prefix",
        "after",
        "amount",
        "before",
        "key_prefix",
        "key_suffix",
        "pieces",
        "template",
    )

    def __init__(
        self, template: EntryDraft, key_prefix: str, key_suffix: str, account_prefix: str
    ) -> None:
        member = template.member_id
        if member is None or template.idempotency_key != f"{key_prefix}{member}{key_suffix}":
            raise ValueError(
                f"{template.idempotency_key!r} is not {key_prefix}<member>{key_suffix}"
            )
        own = account_prefix + member
        at = [i for i, p in enumerate(template.postings) if p.account == own]
        if len(at) > 1:
            raise ValueError(f"{template.idempotency_key}: two legs on {own}")
        legs = template.postings
        self.template = template
        self.key_prefix = key_prefix
        self.key_suffix = key_suffix
        self.account_prefix = account_prefix
        self.before: tuple[Posting, ...] = legs
        self.after: tuple[Posting, ...] = ()
        self.amount: int | None = None
        if at:
            self.before, self.after = legs[: at[0]], legs[at[0] + 1 :]
            self.amount = legs[at[0]].amount_fen
        text = canonical_of(
            template.kind.value,
            template.effective_date.isoformat(),
            f"{key_prefix}{_MEMBER}{key_suffix}",
            template.reason,
            template.period,
            _MEMBER,
            template.scheme,
            template.region,
            template.base_fen,
            template.corrects,
            [
                (account_prefix + _MEMBER if i in at else p.account, p.amount_fen)
                for i, p in enumerate(legs)
            ],
        )
        self.pieces = text.split(_MEMBER)
        assert len(self.pieces) == 3 + len(at)

    def draft(self, member_id: str) -> EntryDraft:
        """The template's entry for ``member_id``."""
        t = self.template
        key = f"{self.key_prefix}{member_id}{self.key_suffix}"
        if not 1 <= len(key) <= 200:
            raise EntryNotBalanced("idempotency_key must be 1 to 200 characters")
        if self.amount is None:
            legs = self.before
        else:
            own = Posting(_checked(self.account_prefix + member_id), self.amount)
            legs = (*self.before, own, *self.after)
        copy = EntryDraft(
            t.kind,
            t.effective_date,
            key,
            legs,
            t.reason,
            t.period,
            member_id,
            t.scheme,
            t.region,
            t.base_fen,
            t.corrects,
        )
        _set(copy, "canonical_text", _string(member_id)[1:-1].join(self.pieces))
        return copy


def fingerprint_of(canonical: str) -> str:
    """sha256 of an entry's canonical content, 64 hex characters."""
    return hashlib.sha256(canonical.encode()).hexdigest()


def format_recorded_at(recorded_at: datetime) -> str:
    """Recorded times in the hash are UTC ISO strings with microseconds, whatever the backend."""
    if recorded_at.tzinfo is None:
        recorded_at = recorded_at.replace(tzinfo=UTC)
    return recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(prev_hash: str, entry_id: int, recorded_at: str, canonical: str) -> str:
    """``sha256(prev_hash|id|recorded_at|canonical content)`` as 64 hex characters.

    ``recorded_at`` is already formatted by ``format_recorded_at``.
    """
    return hashlib.sha256(f"{prev_hash}|{entry_id}|{recorded_at}|{canonical}".encode()).hexdigest()
