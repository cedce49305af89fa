"""The shipped regional policy data: DOMAIN.md's official figures, coverage and honesty.

Each official figure of DOMAIN.md is a test whose docstring names its source. The coverage
tests hold for every region the ledger knows: a pension base and a pension rate in force for
every month from 2016-07 to 2027-06. Every figure not read from a source says how it was got.
"""

from datetime import date
from decimal import Decimal
from itertools import pairwise

import pytest

from ledger.domain.policy import default_policy
from ledger.domain.policy.records import (
    RECORD_TYPES,
    Frequencies,
    MedicalContribution,
    PensionBase,
    PensionCalculationBase,
    PensionRate,
)

BEIJING, SHANGHAI, TIANJIN = "110000", "310000", "120000"
GUANGZHOU, SHENZHEN = "440100", "440300"
REGIONS = (BEIJING, SHANGHAI, TIANJIN, GUANGZHOU, SHENZHEN)


def fen(yuan: str) -> int:
    whole, _, frac = yuan.partition(".")
    return int(whole) * 100 + int(frac.ljust(2, "0"))


def months(first: date, last: date) -> list[date]:
    found, year, month = [], first.year, first.month
    while date(year, month, 1) <= last:
        found.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


@pytest.fixture(scope="module")
def policy():
    return default_policy()


def base(policy, region: str, on: date, known_at: date | None = None) -> PensionBase:
    return policy.at(PensionBase, on, region=region, known_at=known_at)


def medical(policy, region: str, on: date, variant: str | None = None) -> MedicalContribution:
    return policy.at(MedicalContribution, on, region=region, variant=variant)


# ------------------------------------------------------------------ regions


def test_the_five_regions_are_described_with_their_province(policy):
    provinces = {code: policy.region(code).province for code in REGIONS}
    assert provinces == {
        BEIJING: "110000",
        SHANGHAI: "310000",
        TIANJIN: "120000",
        GUANGZHOU: "440000",
        SHENZHEN: "440000",
    }


# ------------------------------------------------------------------ DOMAIN.md §8 bases


@pytest.mark.parametrize(
    ("region", "floor", "ceiling"),
    [
        (BEIJING, "7162", "35811"),
        (SHANGHAI, "7460", "37302"),
        (GUANGZHOU, "5510", "27549"),
        (SHENZHEN, "4775", "27549"),
    ],
)
def test_the_2025_year_floor_and_ceiling_match_domain_section_8(policy, region, floor, ceiling):
    """2025 year (2025-07-01 to 2026-06-30): Beijing 7,162–35,811; Shanghai 7,460–37,302;
    Guangzhou 5,510–27,549; Shenzhen and other Guangdong 4,775–27,549.

    Source: DOMAIN.md §8 (京人社发〔2025〕11号 for Beijing; 粤人社发〔2025〕32号 for Guangdong).
    """
    for on in (date(2025, 7, 1), date(2026, 6, 30)):
        record = base(policy, region, on)
        assert (record.floor_fen, record.ceiling_fen) == (fen(floor), fen(ceiling))


@pytest.mark.parametrize(
    ("region", "floor", "ceiling"),
    [(BEIJING, "7270", "36348"), (SHANGHAI, "7546", "37731"), (TIANJIN, "5180", "25902")],
)
def test_the_2026_year_floor_and_ceiling_match_domain_section_8(policy, region, floor, ceiling):
    """2026 year (from 2026-07): Beijing 7,270–36,348; Shanghai 7,546–37,731; Tianjin
    5,180–25,902. Source: DOMAIN.md §8."""
    record = base(policy, region, date(2026, 7, 1))
    assert (record.floor_fen, record.ceiling_fen) == (fen(floor), fen(ceiling))


def test_the_2026_year_starts_on_the_first_of_july(policy):
    """Bases switch on 1 July (DOMAIN.md §2): June 2026 is still the 2025 year."""
    assert base(policy, BEIJING, date(2026, 6, 30)).floor_fen == fen("7162")
    assert base(policy, BEIJING, date(2026, 7, 1)).floor_fen == fen("7270")


def test_the_beijing_floor_times_20_percent_is_1432_40(policy):
    """Beijing floor 7,162 × 20% = 1,432.40; personal 572.96. Source: DOMAIN.md §2."""
    floor = base(policy, BEIJING, date(2025, 7, 1)).floor_fen
    rate = policy.at(PensionRate, date(2025, 7, 1), region=BEIJING)
    assert floor * rate.total_rate == Decimal(143240)
    assert floor * rate.personal_rate == Decimal(57296)


# ------------------------------------------------------------------ known-at axis


def test_the_beijing_2025_base_is_not_known_before_its_publication(policy):
    """Beijing published the 2025 base on 2025-09-18, effective 2025-07-01: as known on
    2025-09-01 July 2025 falls back to the 2024 base. Source: 京人社发〔2025〕11号."""
    before = base(policy, BEIJING, date(2025, 7, 1), known_at=date(2025, 9, 1))
    assert before.effective == date(2024, 7, 1)
    assert before.floor_fen != fen("7162")


def test_the_beijing_2025_base_is_known_from_its_publication_day(policy):
    """Published 2025-09-18 (京人社发〔2025〕11号, DOMAIN.md §2)."""
    after = base(policy, BEIJING, date(2025, 7, 1), known_at=date(2025, 9, 18))
    assert (after.effective, after.published) == (date(2025, 7, 1), date(2025, 9, 18))
    assert after.floor_fen == fen("7162")


# ------------------------------------------------------------------ pension rate


def test_shanghai_pension_rate_is_24_percent_on_2024_02_01(policy):
    """Shanghai 24% until 2024-02, 8% personal. Source: 沪人社规〔2023〕5号 (DOMAIN.md §2)."""
    rate = policy.at(PensionRate, date(2024, 2, 1), region=SHANGHAI)
    assert (rate.total_rate, rate.personal_rate) == (Decimal("0.24"), Decimal("0.08"))


def test_shanghai_pension_rate_is_20_percent_from_2024_03_01(policy):
    """Shanghai 20% from 2024-03-01, 8% personal. Source: 沪人社规〔2023〕5号 and its 2024
    notice (DOMAIN.md §2)."""
    rate = policy.at(PensionRate, date(2024, 3, 1), region=SHANGHAI)
    assert (rate.total_rate, rate.personal_rate) == (Decimal("0.20"), Decimal("0.08"))


@pytest.mark.parametrize("region", [BEIJING, TIANJIN, GUANGZHOU, SHENZHEN])
def test_other_regions_pay_the_national_20_percent_with_8_to_the_personal_account(policy, region):
    """20%: 12% pooling, 8% personal. Source: 国发〔2005〕38号; 粤人社规〔2026〕14号 Art. 7."""
    rate = policy.at(PensionRate, date(2025, 7, 1), region=region)
    assert (rate.total_rate, rate.personal_rate) == (Decimal("0.20"), Decimal("0.08"))


# ------------------------------------------------------------------ medical (DOMAIN.md §3)


def test_beijing_medical_is_a_fixed_584_92_a_month_in_the_2025_year(policy):
    """Beijing flexible employees' medical: fixed 584.92 CNY/month for the 2025 year.
    Source: 京人社发〔2025〕11号 (DOMAIN.md §3)."""
    record = medical(policy, BEIJING, date(2025, 7, 1))
    assert (record.method, record.fixed_monthly_fen) == ("fixed", 58492)
    assert record.status == "official"


@pytest.mark.parametrize(
    ("on", "rate"),
    [(date(2024, 2, 29), "0.11"), (date(2024, 3, 1), "0.10"), (date(2025, 7, 1), "0.10")],
)
def test_shanghai_medical_is_11_percent_before_march_2024_and_10_after(policy, on, rate):
    """Shanghai 10% from 2024-03-01 on the pension base range; 11% in the 2023 notice.
    Source: 沪医保规〔2025〕7号 and the subsidy arithmetic (DOMAIN.md §3)."""
    record = medical(policy, SHANGHAI, on)
    assert (record.method, record.rate, record.base) == ("rate", Decimal(rate), "pension")


def test_shanghai_medical_keeps_the_2023_notice_11_percent_as_a_variant(policy):
    """The sources disagree (DOMAIN.md §3): the 2023 notice's 11% stays reachable."""
    record = medical(policy, SHANGHAI, date(2024, 3, 1), variant="notice-2023")
    assert record.rate == Decimal("0.11") and record.variant == "notice-2023"


@pytest.mark.parametrize(
    ("on", "rate"),
    [
        (date(2024, 2, 29), "0.08"),
        (date(2024, 3, 1), "0.065"),
        (date(2025, 12, 31), "0.065"),
        (date(2026, 1, 1), "0.08"),
    ],
)
def test_guangzhou_medical_is_6_5_percent_from_march_2024_to_2025_then_8(policy, on, rate):
    """Guangzhou 8%; 6.5% 2024-03-01 to 2025-12-31; 8% from 2026-01-01, on its own base.
    Source: 穗医保规字〔2022〕1号 (DOMAIN.md §3)."""
    record = medical(policy, GUANGZHOU, on)
    assert (record.rate, record.base) == (Decimal(rate), "own")


def test_guangzhou_medical_base_is_60_to_300_percent_of_the_average_two_years_earlier(policy):
    """Medical base year 2025 (from 2025-07) uses the 2023 Guangdong average 9,167:
    5,500–27,501. Source: 穗医保规字〔2022〕1号 (DOMAIN.md §3)."""
    record = medical(policy, GUANGZHOU, date(2025, 7, 1))
    assert (record.floor_fen, record.ceiling_fen) == (fen("5500"), fen("27501"))


@pytest.mark.parametrize(
    ("on", "rate"),
    [
        (date(2023, 12, 31), "0.08"),
        (date(2024, 1, 1), "0.07"),
        (date(2025, 12, 31), "0.07"),
        (date(2026, 1, 1), "0.08"),
    ],
)
def test_shenzhen_tier_1_medical_is_7_percent_in_2024_and_2025_then_8(policy, on, rate):
    """Shenzhen tier 1: 8%; 7% in 2024–2025; 8% from 2026-01-01.
    Source: 深府办规〔2023〕5号 (DOMAIN.md §3)."""
    assert medical(policy, SHENZHEN, on).rate == Decimal(rate)


def test_shenzhen_2026_medical_base_is_6727_to_33633(policy):
    """Shenzhen 2026 medical base 6,727–33,633. Source: DOMAIN.md §3 (深府办规〔2023〕5号)."""
    record = medical(policy, SHENZHEN, date(2026, 7, 1))
    assert (record.base, record.floor_fen, record.ceiling_fen) == ("own", 672700, 3363300)


# ------------------------------------------------------------------ calculation base


@pytest.mark.parametrize(
    ("region", "on", "monthly"),
    [
        (BEIJING, date(2025, 7, 1), "12049"),
        (GUANGZHOU, date(2025, 7, 1), "9493"),
        (SHENZHEN, date(2025, 7, 1), "9493"),
    ],
)
def test_the_2025_pension_calculation_bases_match_domain_section_6(policy, region, on, monthly):
    """Beijing 2025: 12,049; Guangdong 2025: 9,493. Source: DOMAIN.md §6."""
    record = policy.at(PensionCalculationBase, on, region=region)
    assert record.monthly_fen == fen(monthly)


# ------------------------------------------------------------------ payment frequencies


def test_shanghai_allows_monthly_payment_only_and_no_catch_up_that_adds_years(policy):
    """Shanghai: monthly only, no catch-up that adds years. Source: 沪人社规〔2023〕5号."""
    rule = policy.at(Frequencies, date(2024, 3, 1), region=SHANGHAI)
    assert (rule.allowed, rule.catch_up_adds_years) == (["monthly"], False)


def test_beijing_allows_monthly_quarterly_half_yearly_and_annual_payment(policy):
    """Beijing: monthly, quarterly, half-yearly or annual. Source: Beijing service guide 2025."""
    rule = policy.at(Frequencies, date(2025, 7, 1), region=BEIJING)
    assert rule.allowed == ["monthly", "quarterly", "half-yearly", "annual"]


# ------------------------------------------------------------------ coverage and honesty


@pytest.mark.parametrize("region", REGIONS)
def test_every_month_from_2016_07_to_2027_06_has_a_pension_base_and_rate(policy, region):
    for month in months(date(2016, 7, 1), date(2027, 6, 1)):
        record = base(policy, region, month)
        assert record.floor_fen < record.ceiling_fen
        assert policy.at(PensionRate, month, region=region).total_rate > 0


@pytest.mark.parametrize("region", REGIONS)
def test_every_month_from_2016_07_to_2027_06_has_a_medical_contribution(policy, region):
    for month in months(date(2016, 7, 1), date(2027, 6, 1)):
        assert medical(policy, region, month).method in ("rate", "fixed")


@pytest.mark.parametrize("region", REGIONS)
def test_bases_never_fall_from_one_contribution_year_to_the_next(policy, region):
    records = sorted(policy.history(PensionBase.path, region), key=lambda r: r.effective)
    for earlier, later in pairwise(records):
        assert later.floor_fen >= earlier.floor_fen
        assert later.ceiling_fen >= earlier.ceiling_fen


@pytest.mark.parametrize("region", REGIONS)
def test_a_base_at_60_and_300_percent_of_the_average_lies_within_floor_and_ceiling(policy, region):
    for record in policy.history(PensionBase.path, region):
        assert isinstance(record, PensionBase)
        assert record.average_wage_fen is not None
        assert record.average_wage_fen * 3 <= record.ceiling_fen
        assert record.floor_fen <= record.average_wage_fen * 6 // 10 + 50


def test_every_derived_provisional_or_unverified_record_says_how_it_was_got(policy):
    unexplained = [
        (scope, path, record.effective)
        for scope, paths in policy.records.items()
        for path, records in paths.items()
        for record in records
        if record.status in ("derived", "provisional", "unverified")
        and not (record.note or "").strip()
    ]
    assert unexplained == []


def test_every_record_names_a_source(policy):
    assert all(
        len(record.source.strip()) >= 3
        for paths in policy.records.values()
        for records in paths.values()
        for record in records
    )


def test_every_regional_path_is_a_known_parameter(policy):
    for code in REGIONS:
        assert set(policy.records[code]) <= set(RECORD_TYPES)


def test_the_life_table_is_dated_policy_and_the_simulation_dies_by_it():
    """national.toml mortality.life_table (derived: Gompertz μ(x) = a·e^(0.1·x), a =
    0.0000285 men, 0.0000196 women, fitted to life expectancy at 60 of about 19 and 22
    years, China 2019, WHO GHO; cross-checked against the CL1 (2010–2013) men's q(50) of
    0.4249% quoted by Xinhua 2017-03-02). By hand: q(50) for men = 1 − exp(−(a/b)·e^5·
    (e^0.1 − 1)) = 1 − exp(−0.000285 × 148.4132 × 0.1051709) = 0.0044386 → 0.004439,
    within 5% of the CL1 figure; the simulation's monthly chance at 50 is q / 12."""
    from ledger.domain.policy.records import LifeTable
    from ledger.simulate.scenario import Benefits

    table = default_policy().at(LifeTable, date(2026, 1, 1))
    assert table.status == "derived" and "Xinhua" in table.source
    assert table.q("male", 50) == Decimal("0.004439")
    assert abs(table.q("male", 50) - Decimal("0.004249")) / Decimal("0.004249") < Decimal("0.05")
    assert table.q("female", 50) < table.q("male", 50)
    assert table.q("male", 110) == 1 and table.q("male", 10) == table.q("male", 16)
    assert Benefits().monthly_death(50, "male", table) == Decimal("0.004439") / 12
