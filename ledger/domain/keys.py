"""Idempotency keys, run keys and transfer ids: built and parsed here, and nowhere else.

Every journal entry carries an idempotency key that names what it records; the database
keeps keys unique, so a second attempt at the same thing finds its key and writes nothing.
A key is its kind, then its parts, joined by ``:``; no part holds a ``:`` (member ids are
citizen numbers, months ``YYYY-MM``, dates ISO, schemes and regions words and digits).
Every run of worker messages has a run key, from which its message ids are derived
(``workers.outbox.message_id``); a run key is what makes running a job twice write nothing.
``docs/SCHEMA.md`` lists the entry keys for auditors.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date

from ledger.domain.errors import BadInput
from ledger.domain.schemes import Scheme

# ------------------------------------------------------------------ entry keys


def contribution(period: object, member_id: str, scheme: object) -> str:
    """``contribution:<period>:<member>:<scheme>``: one member's month in one scheme."""
    return f"contribution:{period}:{member_id}:{scheme}"


def contribution_affixes(period: object, scheme: object) -> tuple[str, str]:
    """The text around the member in ``contribution``'s key, for copying a drafted
    month to another member: ``prefix + member + suffix`` is that member's key."""
    return f"contribution:{period}:", f":{scheme}"


def correction(entry_id: int) -> str:
    """``correction:<entry id>``: the one reversal of an entry."""
    return f"correction:{entry_id}"


def adjustment(period: object, member_id: str, scheme: object, number: int) -> str:
    """``adjustment:<period>:<member>:<scheme>:<n>``: the n-th re-assessment of a month."""
    return f"adjustment:{period}:{member_id}:{scheme}:{number}"


def fee(month: object, member_id: str) -> str:
    """``fee:<month>:<member>``: the HR company's fee, one per member and month."""
    return f"fee:{month}:{member_id}"


def bank_reference(member_id: str, scheme: object, year: int, today: date) -> str:
    """``bank:<member>:<scheme>:<year>:<run date>``: one run's deduction for a member, the
    same on every retry of the run; it is also the reference the bank settles."""
    return f"bank:{member_id}:{scheme}:{year}:{today.isoformat()}"


def gap(month: object, member_id: str, scheme: object) -> str:
    """``gap:<month>:<member>:<scheme>``: a month the bank could not collect."""
    return f"gap:{month}:{member_id}:{scheme}"


def overpayment(reference: str) -> str:
    """``overpayment:<bank reference>``: what a settlement paid beyond the months due."""
    return f"overpayment:{reference}"


def interest(year: int, scheme: object, member_id: str) -> str:
    """``interest:<year>:<scheme>:<member>``: the year's credit (a correction adds ``:<n>``)."""
    return f"interest:{year}:{scheme}:{member_id}"


def interest_rate_change(credit_key: str, known_from: object) -> str:
    """``<credit key>:rate-<published>``: the difference a newly published rate makes."""
    return f"{credit_key}:rate-{known_from}"


def interest_recalculation(credit_key: str, number: int) -> str:
    """``<credit key>:recalc-<n>``: the credit redone after its opening or deposits changed."""
    return f"{credit_key}:recalc-{number}"


def pension(month: object, member_id: str) -> str:
    """``pension:<month>:<member>``: one month's pension."""
    return f"pension:{month}:{member_id}"


def resident_pension(month: object, member_id: str) -> str:
    """``resident-pension:<month>:<member>``: one month's residents' pension."""
    return f"resident-pension:{month}:{member_id}"


def inheritance(scheme: object, member_id: str) -> str:
    """``inheritance:<scheme>:<member>``: the personal account paid to the heirs."""
    return f"inheritance:{scheme}:{member_id}"


def refund(scheme: object, member_id: str) -> str:
    """``refund:<scheme>:<member>``: the personal account refunded when insurance ends."""
    return f"refund:{scheme}:{member_id}"


def scheme_change(scheme: object, member_id: str) -> str:
    """``scheme-change:<scheme>:<member>``: the personal account moved to the resident scheme."""
    return f"scheme-change:{scheme}:{member_id}"


def temporary_collection(member_id: str, region: str) -> str:
    """``temporary-collection:<member>:<region>``: a temporary account gathered home."""
    return f"temporary-collection:{member_id}:{region}"


TRANSFER_OUT = "transfer-out"
TRANSFER_IN = "transfer-in"
TRANSFER_RETURN = "transfer-return"


def transfer_step(step: str, transfer_id: str) -> str:
    """``transfer-out|transfer-in|transfer-return:<transfer id>``: one step of a transfer."""
    return f"{step}:{transfer_id}"


def transfer_of(key: str) -> str:
    """The transfer id in a transfer step's key."""
    step, _, transfer_id = key.partition(":")
    if step not in (TRANSFER_OUT, TRANSFER_IN, TRANSFER_RETURN) or not transfer_id:
        raise ValueError(f"{key!r} is not a transfer step's key")
    return transfer_id


# ------------------------------------------------------------------ transfer ids

_TRANSFER_ID = re.compile(
    r"^(?P<member>\d{17}[\dX])-(?P<scheme>[a-z-]+)-(?P<to>\d{6})-(?P<on>\d{8})$"
)


def transfer_id(member_id: str, scheme: object, to_region: str, on: date) -> str:
    """``<member>-<scheme>-<destination>-<YYYYMMDD>``: a transfer, named by what asked it."""
    return f"{member_id}-{scheme}-{to_region}-{on:%Y%m%d}"


def transfer_parts(text: str) -> tuple[str, Scheme, str, date]:
    """(member, scheme, destination, date requested) of a ``transfer_id``."""
    parsed = _TRANSFER_ID.match(text)
    if parsed is None:
        raise BadInput("transfer", f"{text!r} is not a transfer id")
    on = parsed["on"]
    return (
        parsed["member"],
        Scheme.parse(parsed["scheme"], "transfer"),
        parsed["to"],
        date(int(on[:4]), int(on[4:6]), int(on[6:])),
    )


def is_transfer_id(text: str) -> bool:
    return _TRANSFER_ID.match(text) is not None


def transfer_destination(text: str) -> str:
    """The destination region of a ``transfer_id``, without checking the rest."""
    return text.rsplit("-", 2)[1]


# ------------------------------------------------------------------ run keys


def _scheme_suffix(scheme: Scheme) -> str:
    # pension, the first scheme, kept its keys from before schemes were named in them
    return "" if scheme is Scheme.PENSION else f":{scheme}"


def contributions_run(scheme: object, first: object, last: object, paid_on: date) -> str:
    return f"contributions:{scheme}:{first}:{last}:{paid_on}"


def bank_deduction_run(
    year: int, scheme: Scheme, today: date, regions: Collection[str] | None = None
) -> str:
    base = f"bank-deduction:{year}" + _scheme_suffix(scheme)
    if regions is not None:
        base += f":{today:%m}:" + "+".join(sorted(regions))
    return base


def close_year_run(year: int, scheme: Scheme) -> str:
    return f"close-year:{year}" + _scheme_suffix(scheme)


def affiliate_fees_run(month: object) -> str:
    return f"affiliate-fees:{month}"


def interest_run(year: int, scheme: Scheme) -> str:
    return f"interest:{year}" + _scheme_suffix(scheme)


def pensions_run(month: object) -> str:
    return f"pensions:{month}"


def transfer_run(transfer_id: str) -> str:
    return f"transfer:{transfer_id}"


def transfers_run(today: date) -> str:
    return f"transfers:{today}"


def transfer_timeouts_run(today: date) -> str:
    return f"transfer-timeouts:{today}"


def simulation_step(label: str, month: object, today: date) -> str:
    return f"simulation:{label}:{month}:{today}"


def simulation_deaths(today: date) -> str:
    return f"simulation:deaths:{today}"


def verify_run(part: str) -> str:
    """A verify job started over HTTP: ``verify/<token id>/<Idempotency-Key>`` or a random part."""
    return f"verify/{part}"


def late_adjustments_run(today: date) -> str:
    return f"late-adjustments:{today}"


def again(key: str, round_: int) -> str:
    """The key of a job's ``round_``-th run on the same inputs (``#<n>``: a rerun on
    purpose, after a fix); the first round's key is the bare key."""
    if round_ < 1:
        raise BadInput("round", f"{round_} is not a round number (1, 2, …)")
    return key if round_ == 1 else f"{key}#{round_}"
