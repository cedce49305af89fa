"""Citizen ID numbers: GB 11643-1999 rules, the 15-digit upgrade and ``flexledger id check``."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.cli import main
from ledger.domain.errors import InvalidCitizenId
from ledger.domain.identity import (
    CitizenId,
    Sex,
    _region_names,
    check_character,
    is_known_region,
    parse_citizen_id,
    region_name,
)

DOMAIN_EXAMPLE = "11010519491231002X"
TODAY = date(2025, 7, 1)

# Known region codes in a fixed order, so that hypothesis can shrink and replay examples.
KNOWN_REGIONS = sorted(_region_names())


def with_check(first17: str) -> str:
    """An 18-character number whose check character is correct for ``first17``."""
    return first17 + check_character(first17)


def refusal(text: str, **kwargs: object) -> str:
    """The message of the InvalidCitizenId that parsing ``text`` raises."""
    with pytest.raises(InvalidCitizenId) as caught:
        parse_citizen_id(text, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


@st.composite
def valid_first17(draw: st.DrawFn, latest: date = date(2020, 12, 31)) -> tuple[str, date, int]:
    region = draw(st.sampled_from(KNOWN_REGIONS))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=latest))
    sequence = draw(st.integers(min_value=0, max_value=999))
    return f"{region}{born:%Y%m%d}{sequence:03d}", born, sequence


# --- the DOMAIN example ----------------------------------------------------------------


def test_the_domain_example_is_a_valid_female_born_1949_12_31_in_chaoyang_beijing() -> None:
    """GB 11643-1999 via DOMAIN.md §1: ``11010519491231002X`` is valid.

    Sequence 002 is even, so female; region 110105 is Chaoyang District, Beijing.
    """
    parsed = parse_citizen_id(DOMAIN_EXAMPLE, today=TODAY)

    assert parsed == CitizenId(
        number=DOMAIN_EXAMPLE,
        region_code="110105",
        birth_date=date(1949, 12, 31),
        sequence=2,
        sex=Sex.FEMALE,
        upgraded_from=None,
    )
    assert parsed.region_name == "朝阳区"
    assert str(parsed) == DOMAIN_EXAMPLE


def test_the_check_character_of_the_domain_example_is_x() -> None:
    """Worked by hand: the weighted sum of 11010519491231002 is 167; 167 mod 11 = 2 → X."""
    assert check_character("11010519491231002") == "X"


def test_an_odd_sequence_number_is_male() -> None:
    parsed = parse_citizen_id(with_check("11010519491231001"), today=TODAY)

    assert parsed.sex is Sex.MALE
    assert parsed.sequence == 1


def test_a_lower_case_x_and_surrounding_whitespace_are_normalised() -> None:
    parsed = parse_citizen_id("  11010519491231002x\n", today=TODAY)

    assert parsed.number == DOMAIN_EXAMPLE


def test_the_region_codes_the_product_uses_are_known_with_their_names() -> None:
    assert region_name("110000") == "北京市"
    assert region_name("310000") == "上海市"
    assert region_name("120000") == "天津市"
    assert region_name("440100") == "广州市"
    assert region_name("440300") == "深圳市"
    assert is_known_region("110105")


def test_a_code_dropped_from_a_later_revision_is_still_known() -> None:
    """Laiwu (371200) was merged into Jinan in 2019; IDs issued there keep the code."""
    assert region_name("371200") == "莱芜市"


def test_an_unknown_region_code_has_no_name() -> None:
    assert region_name("110199") is None
    assert not is_known_region("110199")
    assert not is_known_region("")


# --- each rule, in order, with its message --------------------------------------------


def test_a_number_of_the_wrong_length_is_refused_naming_the_length() -> None:
    assert refusal("11010519491231002") == (
        "id: must be 18 characters (or 15 for a legacy number), got 17"
    )


def test_the_field_name_given_by_the_caller_is_named_in_the_refusal() -> None:
    assert refusal("", field="member_id").startswith("member_id: must be 18 characters")


def test_a_letter_among_the_first_17_characters_is_refused() -> None:
    assert refusal("1101051949123100X2") == "id: must be 17 digits followed by a digit or X"


def test_full_width_digits_are_refused_as_bad_characters() -> None:
    """``str.isdigit`` would accept these; an ID number is ASCII only."""
    full_width = DOMAIN_EXAMPLE[:17].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert refusal(full_width + "X") == "id: must be 17 digits followed by a digit or X"


def test_a_legacy_number_with_a_letter_is_refused() -> None:
    assert refusal("11010549123100X") == "id: a 15-character legacy number must be all digits"


def test_an_unknown_province_is_refused() -> None:
    assert refusal(with_check("99010519491231002")) == "id: unknown province code 99"


def test_an_unknown_region_code_in_a_known_province_is_refused() -> None:
    assert refusal(with_check("11019919491231002")) == "id: unknown region code 110199"


def test_an_impossible_birth_date_is_refused() -> None:
    assert refusal(with_check("11010519490230002")) == (
        "id: birth date 19490230 is not a real date"
    )


def test_a_birth_date_after_today_is_refused() -> None:
    number = with_check("11010520100101002")

    assert refusal(number, today=date(2009, 12, 31)) == (
        "id: birth date 2010-01-01 is after today 2009-12-31"
    )
    assert parse_citizen_id(number, today=date(2010, 1, 1)).birth_date == date(2010, 1, 1)


def test_a_birth_date_before_1900_is_refused() -> None:
    assert refusal(with_check("11010518991231002")) == (
        "id: birth date 1899-12-31 is before 1900-01-01"
    )


def test_a_wrong_check_character_is_refused_naming_both_characters() -> None:
    assert refusal("110105194912310021") == "id: check character is 1, expected X"
    assert refusal("11010519491231001X") == (
        f"id: check character is X, expected {check_character('11010519491231001')}"
    )


def test_rules_are_checked_in_order_so_the_first_broken_rule_is_named() -> None:
    """An unknown region with an impossible date and a wrong check character: region first."""
    assert refusal("990105194902300020") == "id: unknown province code 99"


# --- 15-digit legacy numbers ------------------------------------------------------------


def test_a_15_digit_legacy_number_is_upgraded_to_the_18_character_number() -> None:
    parsed = parse_citizen_id("110105491231002", today=TODAY)

    assert parsed.number == DOMAIN_EXAMPLE
    assert parsed.upgraded_from == "110105491231002"
    assert parsed.birth_date == date(1949, 12, 31)


def test_a_legacy_number_with_an_impossible_date_is_refused() -> None:
    assert refusal("110105490230002") == "id: birth date 19490230 is not a real date"


@given(valid_first17(latest=date(1999, 12, 31)))
def test_removing_century_and_check_character_then_upgrading_gives_back_the_number(
    drawn: tuple[str, date, int],
) -> None:
    first17, _born, _sequence = drawn
    number = with_check(first17)
    legacy = number[:6] + number[8:17]

    parsed = parse_citizen_id(legacy, today=TODAY)

    assert parsed.number == number
    assert parsed.upgraded_from == legacy


# --- properties -----------------------------------------------------------------------


@given(valid_first17())
def test_every_valid_number_round_trips_and_its_sex_follows_the_sequence_parity(
    drawn: tuple[str, date, int],
) -> None:
    first17, born, sequence = drawn
    number = with_check(first17)

    parsed = parse_citizen_id(number, today=TODAY)

    assert parse_citizen_id(str(parsed), today=TODAY).number == number
    assert parsed.birth_date == born
    assert parsed.sequence == sequence
    assert parsed.sex is (Sex.MALE if sequence % 2 == 1 else Sex.FEMALE)
    assert parsed.number.upper() == parsed.number


@given(st.text())
def test_arbitrary_text_is_either_accepted_or_refused_with_invalid_citizen_id(text: str) -> None:
    try:
        parse_citizen_id(text, today=TODAY)
    except InvalidCitizenId:
        pass


@given(st.from_regex(r"\s*[0-9]{17}[0-9Xx]\s*|[0-9]{15}", fullmatch=True))
def test_well_formed_digit_strings_are_only_ever_refused_with_invalid_citizen_id(
    text: str,
) -> None:
    try:
        parsed = parse_citizen_id(text, today=TODAY)
    except InvalidCitizenId:
        return
    assert len(parsed.number) == 18


@given(
    valid_first17(),
    st.integers(min_value=0, max_value=16),
    st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_changed_in_the_first_17_is_refused(
    drawn: tuple[str, date, int], position: int, shift: int
) -> None:
    """MOD 11-2 catches every single-digit error: each weight is non-zero modulo 11."""
    first17, _born, _sequence = drawn
    number = with_check(first17)
    changed_digit = str((int(number[position]) + shift) % 10)
    changed = number[:position] + changed_digit + number[position + 1 :]

    assert check_character(changed[:17]) != number[17]
    with pytest.raises(InvalidCitizenId):
        parse_citizen_id(changed, today=TODAY)


def test_the_check_character_needs_exactly_17_digits() -> None:
    with pytest.raises(InvalidCitizenId):
        check_character("1101051949123100")


# --- flexledger id check ------------------------------------------------------------------


def test_id_check_prints_the_parts_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["id", "check", "11010519491231002x", "--json"])

    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "id": DOMAIN_EXAMPLE,
        "birth_date": "1949-12-31",
        "sex": "female",
        "region": "110105",
        "region_name": "朝阳区",
        "upgraded_from": None,
    }


def test_id_check_prints_a_table_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["id", "check", "110105491231002"])

    out = capsys.readouterr().out
    assert code == 0
    for part in (DOMAIN_EXAMPLE, "1949-12-31", "female", "110105", "朝阳区", "110105491231002"):
        assert part in out


def test_id_check_refuses_a_bad_number_with_exit_2_and_one_line_naming_field_and_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["id", "check", "110105194912310021"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.splitlines() == ["error: id: check character is 1, expected X"]
