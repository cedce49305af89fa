"""The chart of accounts: every account's name is a colon-separated path that ledger-cli and
hledger read as it is, and its first part gives its type (asset, liability, equity,
income, expense). One function names each kind:

=========================================  ===========================================
``collection:<scheme>:<region>``           money collected for the region (bank clearing)
``personal:<scheme>:<member>``             the member's personal account
``pooling:<scheme>:<region>``              the region's pooling fund
``subsidy:<scheme>:<region>``              government subsidies paid in
``arrears:<scheme>:<member>``              what the member owes (adjustments, gaps)
``gaps:<scheme>:<region>``                 months never collected (the arrears' contra)
``agency:<agency>``                        an HR company's clearing with the ledger
``agency-fees:<agency>``                   an HR company's fee revenue (never a fund)
``transit:<scheme>``                       transfers between regions in transit
``interest:<scheme>:<region>``             interest credited to personal accounts
``refunds:<scheme>:<member>``              money owed back to the member
``heirs:<scheme>:<member>``                a dead member's personal account, owed to heirs
=========================================  ===========================================
"""

from __future__ import annotations

import re
from enum import StrEnum

from ledger.domain.errors import InvalidAccount

_ACCOUNT = re.compile(r"^[a-z][a-z-]*(:[0-9A-Za-z\u4e00-\u9fff._-]+)+$")


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
    "refunds": AccountType.LIABILITY,
    "heirs": AccountType.LIABILITY,
    "pooling": AccountType.EQUITY,
    "gaps": AccountType.EQUITY,
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


def gaps(scheme: str, region: str) -> str:
    return f"gaps:{scheme}:{region}"


def refunds(scheme: str, member: str) -> str:
    """What the fund owes a member back: money collected for months paid otherwise."""
    return f"refunds:{scheme}:{member}"


def heirs(scheme: str, member: str) -> str:
    """What the fund owes a dead member's heirs: the personal account left at death."""
    return f"heirs:{scheme}:{member}"


def agency(name: str) -> str:
    return f"agency:{name}"


def agency_fees(name: str) -> str:
    return f"agency-fees:{name}"


def transit(scheme: str) -> str:
    return f"transit:{scheme}"


def interest(scheme: str, region: str) -> str:
    return f"interest:{scheme}:{region}"
