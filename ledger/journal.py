"""Entries, postings and the chart of accounts: the invariants of double entry.

Invariants (each also enforced by the database, see ``ledger/store/``):
- an entry has at least two postings and its postings sum to zero (balanced);
- amounts are integer fen, signed **debit positive, credit negative**, so a trial
  balance over every account sums to zero;
- nothing is updated or deleted: a correction is a new entry whose ``corrects`` names the
  entry it corrects and whose ``reason`` says why;
- each entry carries ``hash = sha256(prev_hash + canonical content)``: changing any stored
  entry or posting breaks the chain from that entry on (``flexledger verify`` names it).

Account names are colon-separated paths (ledger-cli and hledger read them as they are):

=========================================  ===========================================
``collection:<scheme>:<region>``           money collected for the region (bank clearing)
``personal:<scheme>:<member>``             the member's personal account
``pooling:<scheme>:<region>``              the region's pooling fund
``subsidy:<scheme>:<region>``              government subsidies paid in
``arrears:<scheme>:<member>``              what the member owes (adjustments, gaps)
``agency:<agency>``                        an HR company's clearing with the ledger
``agency-fees:<agency>``                   an HR company's fee revenue (never a fund)
``transit:<scheme>``                       transfers between regions in transit
``interest:<scheme>:<region>``             interest credited to personal accounts
=========================================  ===========================================
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ledger.errors import LedgerError

GENESIS_HASH = "0" * 64

_ACCOUNT = re.compile(r"^[a-z][a-z-]*(:[0-9A-Za-z\u4e00-\u9fff._-]+)+$")


class EntryNotBalanced(LedgerError):
    """Raised when an entry's postings do not sum to zero or it has fewer than two."""


class InvalidAccount(LedgerError):
    """Raised when an account name is not a colon path of the chart of accounts."""


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


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    INCOME = "income"
    EXPENSE = "expense"
    EQUITY = "equity"


_TYPES = {
    "collection": AccountType.ASSET,
    "arrears": AccountType.ASSET,
    "agency": AccountType.ASSET,
    "transit": AccountType.ASSET,
    "personal": AccountType.LIABILITY,
    "pooling": AccountType.EQUITY,
    "subsidy": AccountType.INCOME,
    "agency-fees": AccountType.INCOME,
    "interest": AccountType.EXPENSE,
}


def account_type(name: str) -> AccountType:
    """The type of an account from the first part of its name."""
    head = name.split(":", 1)[0]
    try:
        return _TYPES[head]
    except KeyError:
        raise InvalidAccount(f"{name!r}: no such kind of account {head!r}") from None


def check_account(name: str) -> str:
    if not _ACCOUNT.match(name):
        raise InvalidAccount(f"{name!r} is not an account name (kind:part[:part…])")
    account_type(name)
    return name


def collection(scheme: str, region: str) -> str:
    return f"collection:{scheme}:{region}"


def personal(scheme: str, member: str) -> str:
    return f"personal:{scheme}:{member}"


def pooling(scheme: str, region: str) -> str:
    return f"pooling:{scheme}:{region}"


def subsidy(scheme: str, region: str) -> str:
    return f"subsidy:{scheme}:{region}"


def arrears(scheme: str, member: str) -> str:
    return f"arrears:{scheme}:{member}"


def agency(name: str) -> str:
    return f"agency:{name}"


def agency_fees(name: str) -> str:
    return f"agency-fees:{name}"


def transit(scheme: str) -> str:
    return f"transit:{scheme}"


def interest(scheme: str, region: str) -> str:
    return f"interest:{scheme}:{region}"


class Posting(BaseModel):
    """One leg of an entry: an account and a signed amount in fen (debit positive)."""

    model_config = ConfigDict(frozen=True)

    account: str
    amount_fen: int

    @field_validator("account")
    @classmethod
    def _account_is_in_the_chart(cls, value: str) -> str:
        try:
            return check_account(value)
        except InvalidAccount as exc:
            raise ValueError(str(exc)) from None

    @field_validator("amount_fen", mode="before")
    @classmethod
    def _integer_fen(cls, value: object) -> object:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("amount_fen must be an integer number of fen")
        return value


class EntryDraft(BaseModel):
    """An entry before it is recorded: everything but its id, recorded time and hashes."""

    model_config = ConfigDict(frozen=True)

    kind: EntryKind
    effective_date: date
    idempotency_key: str = Field(min_length=1, max_length=200)
    reason: str = ""
    period: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$")
    member_id: str | None = None
    scheme: str | None = None
    region: str | None = None
    base_fen: int | None = None
    corrects: int | None = None
    postings: tuple[Posting, ...]

    @model_validator(mode="after")
    def _balanced(self) -> EntryDraft:
        if len(self.postings) < 2:
            raise ValueError("an entry needs at least two postings")
        total = sum(p.amount_fen for p in self.postings)
        if total != 0:
            raise ValueError(f"postings sum to {total} fen, not 0")
        return self

    @classmethod
    def build(cls, **fields: object) -> EntryDraft:
        """Construct, turning a broken invariant into ``EntryNotBalanced``.

        Zero-amount postings are dropped: they carry no information and would clutter
        statements (an entry whose legs are all zero is refused as unbalanced-empty).
        """
        postings = fields.pop("postings")
        assert isinstance(postings, (list, tuple))
        legs = tuple(
            p if isinstance(p, Posting) else Posting(account=p[0], amount_fen=p[1])
            for p in postings
        )
        legs = tuple(p for p in legs if p.amount_fen != 0)
        try:
            return cls(postings=legs, **fields)  # type: ignore[arg-type]
        except ValueError as exc:
            raise EntryNotBalanced(str(exc)) from None

    def content(self) -> dict[str, object]:
        """The canonical content that the hash and the idempotency check cover."""
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

    def fingerprint(self) -> str:
        """A digest of the content alone: the same command yields the same fingerprint."""
        return fingerprint_of(self.content())


def fingerprint_of(content: dict[str, object]) -> str:
    """sha256 of an entry's canonical content (what ``EntryDraft.content`` returns)."""
    return hashlib.sha256(_canonical(content).encode()).hexdigest()


def _canonical(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_recorded_at(recorded_at: datetime) -> str:
    """Recorded times in the hash are UTC ISO strings with microseconds, whatever the backend."""
    if recorded_at.tzinfo is None:
        recorded_at = recorded_at.replace(tzinfo=UTC)
    return recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(
    prev_hash: str, entry_id: int, recorded_at: datetime, content: dict[str, object]
) -> str:
    """``sha256(prev_hash | id | recorded_at | canonical content)`` as 64 hex characters."""
    body = _canonical({"id": entry_id, "recorded_at": format_recorded_at(recorded_at), **content})
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()
