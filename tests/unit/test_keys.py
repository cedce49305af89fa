"""Keys are the ledger's memory of what it did: their text must not drift between releases,
or a job run again after an upgrade would write twice."""

from datetime import date

import pytest

from ledger.domain import keys
from ledger.domain.errors import BadInput
from ledger.domain.period import Month
from ledger.domain.schemes import Scheme

MEMBER = "11010519491231002X"


def test_entry_keys_keep_the_text_existing_ledgers_hold():
    month = Month(2025, 3)
    paid = keys.contribution(month, MEMBER, Scheme.PENSION)
    assert paid == f"contribution:2025-03:{MEMBER}:pension"
    assert keys.fee(month, MEMBER) == f"fee:2025-03:{MEMBER}"
    assert keys.gap(month, MEMBER, Scheme.MEDICAL) == f"gap:2025-03:{MEMBER}:medical"
    assert keys.pension(month, MEMBER) == f"pension:2025-03:{MEMBER}"
    assert keys.bank_reference(MEMBER, Scheme.PENSION, 2025, date(2025, 3, 5)) == (
        f"bank:{MEMBER}:pension:2025:2025-03-05"
    )
    assert keys.interest(2024, Scheme.PENSION, MEMBER) == f"interest:2024:pension:{MEMBER}"


def test_a_contribution_key_is_its_affixes_around_the_member():
    prefix, suffix = keys.contribution_affixes(Month(2025, 3), Scheme.MEDICAL)
    assert prefix + MEMBER + suffix == keys.contribution(Month(2025, 3), MEMBER, Scheme.MEDICAL)


def test_a_transfer_id_parses_back_into_what_built_it():
    built = keys.transfer_id(MEMBER, Scheme.MEDICAL, "310000", date(2025, 11, 3))
    assert built == f"{MEMBER}-medical-310000-20251103"
    assert keys.transfer_parts(built) == (MEMBER, Scheme.MEDICAL, "310000", date(2025, 11, 3))
    assert keys.transfer_destination(built) == "310000"
    assert keys.is_transfer_id(built) and not keys.is_transfer_id("310000")


def test_a_transfer_step_key_gives_back_its_transfer():
    tid = keys.transfer_id(MEMBER, Scheme.PENSION, "440100", date(2025, 1, 2))
    for step in (keys.TRANSFER_OUT, keys.TRANSFER_IN, keys.TRANSFER_RETURN):
        assert keys.transfer_of(keys.transfer_step(step, tid)) == tid
    with pytest.raises(ValueError, match="not a transfer step"):
        keys.transfer_of(f"fee:2025-01:{MEMBER}")


def test_a_bad_transfer_id_is_refused_naming_the_field():
    with pytest.raises(BadInput) as refused:
        keys.transfer_parts("not-an-id")
    assert refused.value.field == "transfer"


def test_a_later_round_of_a_run_has_its_own_key_and_round_zero_is_refused():
    first = keys.interest_run(2024, Scheme.PENSION)
    assert keys.again(first, 1) == first == "interest:2024"
    assert keys.again(first, 2) == "interest:2024#2"
    assert keys.interest_run(2024, Scheme.MEDICAL) == "interest:2024:medical"
    with pytest.raises(BadInput) as refused:
        keys.again(first, 0)
    assert refused.value.field == "round"


def test_a_month_by_month_bank_run_is_keyed_by_its_month_and_regions():
    key = keys.bank_deduction_run(2025, Scheme.PENSION, date(2025, 4, 1), ["310000", "110000"])
    assert key == "bank-deduction:2025:04:110000+310000"
