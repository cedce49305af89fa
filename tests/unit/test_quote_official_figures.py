"""Every official contribution figure of DOMAIN.md §2, §3 and §8, through ``flexledger quote``.

Each test runs the command as a user would (``--json``) and compares to the fen.
"""

import json

import pytest

from ledger.cli import main


def quote(capsys, *args: str) -> dict:
    code = main(["quote", *args, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def refuse(capsys, *args: str) -> str:
    code = main(["quote", *args])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    return captured.err


def split_of(result: dict) -> tuple[str, str, str, str]:
    return result["base"], result["total"], result["personal"], result["pooling"]


def test_beijing_floor_pension_is_1432_40_split_572_96_and_859_44(capsys):
    """Beijing 2025 floor 7,162 × 20% = 1,432.40; personal 572.96; pooling 859.44.

    Source: DOMAIN.md §2 and §8, 京人社发〔2025〕11号.
    """
    result = quote(capsys, "--region", "110000", "--period", "2025-07", "--base-percent", "60")
    assert split_of(result) == ("7162.00", "1432.40", "572.96", "859.44")
    assert result["floor"] == "7162.00" and result["ceiling"] == "35811.00"


def test_shanghai_floor_pension_is_1492_00_split_596_80_and_895_20(capsys):
    """Shanghai 2025 floor 7,460: 1,492.00 / 596.80 / 895.20. Source: DOMAIN.md §8."""
    result = quote(capsys, "--region", "310000", "--period", "2025-07", "--base-percent", "60")
    assert split_of(result) == ("7460.00", "1492.00", "596.80", "895.20")
    assert result["ceiling"] == "37302.00"


def test_guangzhou_floor_pension_is_1102_00_split_440_80_and_661_20(capsys):
    """Guangzhou 2025 floor 5,510: 1,102.00 / 440.80 / 661.20. Source: DOMAIN.md §8."""
    result = quote(capsys, "--region", "440100", "--period", "2025-07", "--base", "5510")
    assert split_of(result) == ("5510.00", "1102.00", "440.80", "661.20")
    assert result["ceiling"] == "27549.00"


def test_shenzhen_takes_the_guangdong_provincial_floor_4775(capsys):
    """Shenzhen and other Guangdong areas: floor 4,775, ceiling 27,549. Source: DOMAIN.md §8."""
    result = quote(capsys, "--region", "440300", "--period", "2025-07", "--base", "4775")
    assert (result["floor"], result["ceiling"]) == ("4775.00", "27549.00")
    assert result["total"] == "955.00"
    err = refuse(capsys, "--region", "440300", "--period", "2025-07", "--base", "4774.99")
    assert "4775.00 (floor)" in err and "27549.00 (ceiling)" in err


@pytest.mark.parametrize(
    ("region", "floor", "ceiling"),
    [
        ("110000", "7270.00", "36348.00"),
        ("310000", "7546.00", "37731.00"),
        ("120000", "5180.00", "25902.00"),
    ],
)
def test_2026_year_floors_and_ceilings(capsys, region, floor, ceiling):
    """2026 year (from 2026-07): Beijing 7,270–36,348; Shanghai 7,546–37,731; Tianjin
    5,180–25,902. Source: DOMAIN.md §8."""
    low = quote(capsys, "--region", region, "--period", "2026-07", "--base-percent", "60")
    high = quote(capsys, "--region", region, "--period", "2026-07", "--base-percent", "300")
    assert (low["base"], low["floor"]) == (floor, floor)
    assert (high["base"], high["ceiling"]) == (ceiling, ceiling)


def test_a_base_outside_the_range_is_refused_naming_floor_and_ceiling(capsys):
    """60–300% of the average wage: 国办发〔2019〕13号 §3 (DOMAIN.md §2)."""
    err = refuse(capsys, "--region", "110000", "--period", "2025-07", "--base", "35811.01")
    assert err.startswith("error: base:")
    assert "7162.00 (floor)" in err and "35811.00 (ceiling)" in err


def test_shanghai_pension_rate_is_24_percent_until_february_2024_then_20(capsys):
    """Shanghai 24% until 2024-02, 20% from 2024-03-01; personal 8% throughout.

    Source: 沪人社规〔2023〕5号 and its 2024 notice (DOMAIN.md §2).
    """
    before = quote(capsys, "--region", "310000", "--period", "2024-02", "--base", "10000")
    after = quote(capsys, "--region", "310000", "--period", "2024-03", "--base", "10000")
    assert (before["total"], before["personal"], before["pooling"]) == (
        "2400.00",
        "800.00",
        "1600.00",
    )
    assert (after["total"], after["personal"], after["pooling"]) == ("2000.00", "800.00", "1200.00")


def test_beijing_medical_is_a_fixed_584_92_a_month(capsys):
    """Beijing flexible employees' medical: fixed 584.92 CNY/month for the 2025 year.

    Source: 京人社发〔2025〕11号 (DOMAIN.md §3).
    """
    result = quote(capsys, "--region", "110000", "--scheme", "medical", "--period", "2025-07")
    assert result["total"] == "584.92"
    assert result["personal"] == "0.00" and result["pooling"] == "584.92"


def test_shanghai_medical_is_10_percent_from_march_2024_and_11_before(capsys):
    """Shanghai medical 10% from 2024-03-01 (11% in the 2023 notice), on the pension base range.

    Source: 沪医保规〔2025〕7号; DOMAIN.md §3.
    """
    args = ("--region", "310000", "--scheme", "medical", "--base", "10000")
    assert quote(capsys, *args, "--period", "2024-03")["total"] == "1000.00"
    assert quote(capsys, *args, "--period", "2024-02")["total"] == "1100.00"


def test_guangzhou_medical_is_6_5_percent_from_march_2024_to_2025_then_8(capsys):
    """Guangzhou 8%; 6.5% 2024-03 to 2025-12; 8% from 2026-01. Source: 穗医保规字〔2022〕1号."""
    args = ("--region", "440100", "--scheme", "medical", "--base", "10000")
    assert quote(capsys, *args, "--period", "2024-02")["total"] == "800.00"
    assert quote(capsys, *args, "--period", "2024-03")["total"] == "650.00"
    assert quote(capsys, *args, "--period", "2025-12")["total"] == "650.00"
    assert quote(capsys, *args, "--period", "2026-01")["total"] == "800.00"


def test_shenzhen_medical_is_7_percent_in_2024_and_2025_then_8(capsys):
    """Shenzhen tier 1: 8%; 7% in 2024–2025; 8% from 2026-01. Source: 深府办规〔2023〕5号."""
    args = ("--region", "440300", "--scheme", "medical", "--base", "10000")
    assert quote(capsys, *args, "--period", "2024-06")["total"] == "700.00"
    assert quote(capsys, *args, "--period", "2025-12")["total"] == "700.00"
    assert quote(capsys, *args, "--period", "2026-01")["total"] == "800.00"


def test_shenzhen_2026_medical_base_is_6727_to_33633(capsys):
    """Shenzhen 2026 medical base 6,727–33,633. Source: DOMAIN.md §3 (深府办规〔2023〕5号)."""
    args = ("--region", "440300", "--scheme", "medical", "--period", "2026-07")
    result = quote(capsys, *args, "--base", "6727")
    assert (result["floor"], result["ceiling"]) == ("6727.00", "33633.00")
    assert result["total"] == "538.16"
    err = refuse(capsys, *args, "--base", "33633.01")
    assert "33633.00 (ceiling)" in err


def test_a_quote_as_known_before_a_late_announcement_uses_the_old_base(capsys):
    """Beijing published the 2025 base on 2025-09-18, effective 2025-07-01 (京人社发〔2025〕11号):
    as known on 2025-09-17, July 2025 is still assessed on the 2024 floor."""
    args = ("--region", "110000", "--period", "2025-07", "--base-percent", "60")
    old = quote(capsys, *args, "--known-at", "2025-09-17")
    new = quote(capsys, *args, "--known-at", "2025-09-18")
    assert new["base"] == "7162.00"
    assert old["base"] != new["base"]
    assert old["floor"] != "7162.00"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--region", "110000", "--period", "2025-13", "--base", "8000"), "period"),
        (("--region", "110000", "--period", "2025-07", "--base", "8000.001"), "base"),
        (("--region", "110000", "--period", "2025-07", "--base-percent", "abc"), "base_percent"),
        (("--region", "110000", "--period", "2025-07", "--scheme", "dental"), "scheme"),
        (("--region", "000000", "--period", "2025-07", "--base", "8000"), "region"),
        (("--region", "110000", "--period", "2025-07"), "base"),
        (
            ("--region", "110000", "--period", "2025-07", "--base", "8000", "--base-percent", "60"),
            "base",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(capsys, args, field):
    err = refuse(capsys, *args)
    assert err.startswith(f"error: {field}:")


def test_residents_pension_grade_earns_the_subsidy_into_the_personal_account(capsys):
    """Residents' pension grades 100–2,000; subsidy ≥ 30 at the lowest, ≥ 60 from 500.

    Source: 国发〔2014〕8号 (DOMAIN.md §7).
    """
    args = ("--scheme", "resident-pension", "--region", "120000", "--period", "2025-07")
    lowest = quote(capsys, *args, "--grade", "100")
    five_hundred = quote(capsys, *args, "--grade", "500")
    assert lowest["total"] == "100.00" and int(lowest["subsidy"].split(".")[0]) >= 30
    assert five_hundred["personal"] == f"{500 + int(five_hundred['subsidy'].split('.')[0])}.00"
    assert int(five_hundred["subsidy"].split(".")[0]) >= 60


def test_residents_medical_2025_is_at_least_400_with_700_subsidy(capsys):
    """Residents' medical 2025: individual ≥ 400 CNY, subsidy ≥ 700. Source: DOMAIN.md §7."""
    args = ("--scheme", "resident-medical", "--region", "120000", "--period", "2025-07")
    result = quote(capsys, *args)
    assert float(result["total"]) >= 400 and float(result["subsidy"]) >= 700
    assert result["personal"] == "0.00"
