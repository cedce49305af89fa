"""The comparison of ways to pay: figures computed by hand from DOMAIN.md, no I/O.

The hand-computed ways use a scenario with no wage growth, no pension increases, no
discounting and a life table in which everyone lives to exactly 80, so that every figure
follows from the policy files and the rules of DOMAIN.md §2, §4, §6 and §7 with pencil
and paper.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import pytest

from ledger.compare.measures import irr, payback, present_value, survival
from ledger.compare.model import Person, Way
from ledger.compare.projected import projected_policy
from ledger.compare.projection import context, employee, resident
from ledger.compare.scenario import CompareScenario
from ledger.compare.ways import compare, parse_bases, parse_grades, parse_starts, ways_open
from ledger.domain.errors import BadInput
from ledger.domain.period import Month
from ledger.domain.policy import default_policy
from ledger.domain.policy.records import LifeTable as PolicyLifeTable
from ledger.domain.policy.records import PensionBase, PensionCalculationBase
from ledger.domain.rules.pension import Category

NOW = Month(2026, 12)
LIVE_TO_80 = """
[wage_growth]
value = "0"
[interest]
value = "0"
[discount_rate]
value = "0"
[pension_increase]
value = "0"
[life_table]
model = "table"
from_age = 0
male_qx = [%s, "1"]
female_qx = [%s, "1"]
""" % ((", ".join(['"0"'] * 80),) * 2)


@pytest.fixture
def plain(tmp_path: Path) -> CompareScenario:
    path = tmp_path / "plain.toml"
    path.write_text(LIVE_TO_80, encoding="utf-8")
    return CompareScenario.load(path)


def near_retirement(**changes: object) -> Person:
    """A man born 1966-12-15, hukou Beijing, 174 months paid, 100,000.00 in his account."""
    fields: dict[str, object] = dict(
        birth_date=date(1966, 12, 15),
        sex="male",
        hukou="110105",
        lives_in="110000",
        category=Category.MALE,
        paid_months=174,
        balance_fen=10_000_000,
    )
    fields.update(changes)
    return Person(**fields)  # type: ignore[arg-type]


def test_one_way_paid_pension_payback_and_irr_by_hand(plain: CompareScenario) -> None:
    """Employee at 100% in Beijing from 2026-12 for a man born 1966-12, by hand.

    Retirement (NPC decision 2024-09-13, DOMAIN.md §6): born 1966-12 is 23 months after
    the first cohort 1965-01, so 23 // 4 + 1 = 6 months' delay: 60y6m, in 2027-06.
    Minimum months for 2027: 180 = 174 paid + 6 to pay (Social Insurance Law Art. 16).

    Paid (DOMAIN.md §2, §8; Beijing 2026 year, average wage 12,116 in 110000.toml):
    base 100% = 12,116.00; 20% = 2,423.20 a month, 8% = 969.28 to the personal account;
    2026-12 to 2027-05 is 6 months: 6 × 2,423.20 = 14,539.20.

    Personal account (DOMAIN.md §4, months-held rule, 2026 provisional 2.60%): the
    100,000.00 of today and December's 969.28 each earn 1/12 of a year in 2026:
    100,969.28 × 0.026 / 12 = 218.7668 → 218.77, closing 101,188.05; 2027's five
    deposits, 4,846.40, earn nothing before the award: 106,034.45.

    Pension (DOMAIN.md §6): divisor at 60 (60y6m, whole years) 139:
    106,034.45 / 139 = 762.8378 → 762.84. Mean index: 174 months at 0.60 (prior_index)
    and 6 at 12,116 / 12,116 = 1: (104.4 + 6) / 180 = 0.613333; basic =
    12,116 (calculation base in force 2027-06) × 1.613333 / 2 × 180 / 12 × 1% =
    1,466.036 → 1,466.04. Total 2,228.88 a month.

    Payback: 6 × 2,228.88 = 13,373.28 < 14,539.20 ≤ 7 × 2,228.88 = 15,602.16, so the 7th
    pension, 2027-12, at age 61y0m.

    Life (everyone dies at exactly 80): pensions 2027-06 to 2046-11, 234 months:
    234 × 2,228.88 = 521,557.92; expected net (no discounting) 521,557.92 − 14,539.20 =
    507,018.72. IRR: the monthly r with 2,423.20 × Σ_{t=0}^{5} v^t = 2,228.88 ×
    Σ_{t=6}^{239} v^t, v = 1/(1+r): r = 0.1148326 (annuity formula, solved by hand
    iteration), a year (1 + r)^12 − 1 = 2.685665.
    """
    ctx = context(near_retirement(), default_policy(), plain, NOW)
    way = Way("employee", "110000", "hukou", NOW, base_percent=Decimal(100))
    o = employee(ctx, way)

    assert ctx.retirement.month == Month(2027, 6) and ctx.retirement.age_label == "60y6m"
    assert (o.months_paid, o.months_counted, o.minimum_months, o.eligible) == (6, 180, 180, True)
    assert o.paid_fen == 1_453_920 and o.fees_fen == 0
    assert o.paid_discounted_fen == 1_453_920  # discount rate 0
    assert o.balance_at_award_fen == 10_603_445
    assert o.average_index == Fraction(1104, 1800)
    assert (o.basic_fen, o.personal_fen, o.pension_fen) == (146_604, 76_284, 222_888)
    assert o.payback_month == Month(2027, 12) and o.payback_age_months == 61 * 12
    assert o.expected_pensions_fen == 234 * 222_888 == 52_155_792
    assert o.expected_net_fen == 50_701_872
    assert o.irr_to_age_months == 80 * 12
    assert o.irr == Decimal("2.685665")


def test_the_irr_makes_the_hand_annuity_equation_balance() -> None:
    """The IRR found for the way above solves the annuity equation written by hand."""
    r = 0.11483258
    v = 1 / (1 + r)
    paid = 2423.20 * (1 - v**6) / (1 - v)
    received = 2228.88 * v**6 * (1 - v**234) / (1 - v)
    assert abs(received - paid) / paid < 1e-6
    assert Decimal(repr((1 + r) ** 12 - 1)).quantize(Decimal("0.000001")) == Decimal("2.685665")


def test_one_residents_way_by_hand(plain: CompareScenario) -> None:
    """Residents' pension at 500 a year for a woman born 1980-06, hukou Beijing, by hand.

    DOMAIN.md §7 (国发〔2014〕8号): grade 500 earns the subsidy of 60 (≥ 60 from 500), all
    into the personal account: 560 a year. Paid 2026-12, then each January 2027–2040
    (before the pension from 60, 2040-06): 15 years, the minimum; 15 × 500 = 7,500.00.
    Account: 2026's 560 earns 1/12 of 2.60% (DOMAIN.md §4): 1.2133 → 1.21; later years
    at the scenario's 0%: 561.21 + 13 × 560 + 560 (2040, before the award) = 8,401.21.
    Pension: 123 (national minimum basic, 2024) risen by the dated 2025 increase of 2%
    (national.toml pension.increase, unverified; the scenario's 0% only from 2026):
    123 × 1.02 = 125.46, + 8,401.21 / 139 = 60.4404 → 60.44: 185.90 a month. Payback:
    40 × 185.90 = 7,436.00 < 7,500 ≤ 41 × 185.90, so the 41st pension, 2043-10, at 63y4m.
    """
    woman = near_retirement(
        birth_date=date(1980, 6, 2),
        sex="female",
        category=Category.FEMALE_55,
        paid_months=0,
        balance_fen=0,
    )
    ctx = context(woman, default_policy(), plain, NOW)
    o = resident(ctx, Way("resident", "110105", "hukou", NOW, grade_fen=50_000))
    assert o is not None
    assert o.pension_month == Month(2040, 6)
    assert (o.months_paid, o.eligible) == (15 * 12, True)
    assert o.paid_fen == 750_000
    assert o.balance_at_award_fen == 840_121
    assert (o.basic_fen, o.personal_fen, o.pension_fen) == (12_546, 6_044, 18_590)
    assert o.payback_month == Month(2043, 10) and o.payback_age_months == 63 * 12 + 4


def test_an_hr_company_adds_its_fee_to_what_is_paid(plain: CompareScenario) -> None:
    """Through an HR company the member pays the contributions plus 200 a month
    (DOMAIN.md §9, Hangzhou 2024; national.toml affiliate.fee): 6 × 200 = 1,200.00 more,
    for the same pension (seed 000: same base, same years, same pension)."""
    ctx = context(near_retirement(), default_policy(), plain, NOW)
    direct = employee(ctx, Way("employee", "110000", "hukou", NOW, base_percent=Decimal(100)))
    agency = employee(
        ctx, Way("employee", "110000", "lives-in", NOW, agency=True, base_percent=Decimal(100))
    )
    assert agency.fees_fen == 120_000
    assert agency.paid_fen == direct.paid_fen + 120_000
    assert agency.pension_fen == direct.pension_fen


def test_a_way_short_of_the_minimum_is_shown_but_never_best(plain: CompareScenario) -> None:
    """With 100 months paid, 6 more make 106 of the 180 needed in 2027: no pension."""
    person = near_retirement(paid_months=100)
    result = compare(
        person,
        default_policy(),
        plain,
        NOW,
        bases=[Decimal(60)],
        grades=[],
        starts=[NOW],
        by="pension",
    )
    (only,) = result.outcomes
    assert not only.eligible and only.irr is None and only.payback_month is None
    assert only.expected_pensions_fen == 0 and result.best is None


def test_projected_years_grow_the_last_known_wage(plain: CompareScenario) -> None:
    """Past the files, the average wage grows by wage_growth, to the whole yuan, and the
    base range is 60%–300% of it (国办发〔2019〕13号 §3): Beijing 2026 year 12,116 × 1.05
    = 12,721.80 → 12,722; floor 7,633.2 → 7,633; ceiling 38,166."""
    scenario = plain.model_copy(
        update={"wage_growth": plain.wage_growth.model_copy(update={"value": Decimal("0.05")})}
    )
    policy = projected_policy(default_policy(), scenario, 2030)
    record = policy.at(PensionBase, date(2027, 7, 1), "110000")
    assert (record.average_wage_fen, record.floor_fen, record.ceiling_fen) == (
        1_272_200,
        763_300,
        3_816_600,
    )
    assert record.status == "derived"
    calc = policy.at(PensionCalculationBase, date(2028, 7, 1), "110000")
    assert calc.monthly_fen == 1_335_800  # 12,116 × 1.05² = 13,357.89 → 13,358


def test_irr_of_a_year_at_ten_percent() -> None:
    """Pay 100.00, receive 110.00 twelve months later: 10% a year exactly."""
    flows = [(NOW, -10_000), (NOW + 12, 11_000)]
    assert irr(flows) == Decimal("0.100000")
    assert payback(flows) == NOW + 12


def test_irr_is_none_without_receipts() -> None:
    assert irr([(NOW, -10_000)]) is None
    assert payback([(NOW, -10_000)]) is None


def test_present_value_discounts_a_year_at_the_rate() -> None:
    """110.00 a year from now at 10% is worth 100.00 now."""
    assert present_value([(NOW + 12, 11_000)], Decimal("0.1"), NOW) == 10_000


def test_the_default_survival_is_the_policys_life_table_shared_with_the_simulation() -> None:
    """compare.toml's life_table is "policy": the dated mortality.life_table of
    ledger/domain/policy/data/national.toml (derived: a Gompertz law fitted to about 19 years of
    life at 60 for men and 22 for women, China 2019, WHO Global Health Observatory), the
    table the simulation's deaths use; it keeps the record's status and source."""
    policy_table = default_policy().at(PolicyLifeTable, NOW.first_day)
    table = CompareScenario.load().with_policy_life_table(policy_table).life_table
    assert table.model == "table" and table.status == "derived"
    assert "mortality.life_table" in table.source and "WHO" in table.source
    assert table.male_qx[50 - 16] == Decimal("0.004439") == policy_table.q("male", 50)
    men, women = survival(table, "male", 720), survival(table, "female", 720)
    assert all(a >= b for a, b in pairwise(men))
    assert 18.9 < float(sum(men[1:])) / 12 < 19.1
    assert 21.9 < float(sum(women[1:])) / 12 < 22.1


def test_a_scenario_may_still_give_a_gompertz_law(tmp_path: Path) -> None:
    path = tmp_path / "g.toml"
    path.write_text(
        '[life_table]\nmodel = "gompertz"\nmale_a = "0.0000285"\n'
        'female_a = "0.0000196"\nb = "0.1"\n',
        encoding="utf-8",
    )
    table = CompareScenario.load(path).life_table
    assert table.model == "gompertz" and table.status == "unverified"
    assert 18.9 < float(sum(survival(table, "male", 720)[1:])) / 12 < 19.1


def test_the_ways_open_away_from_hukou_go_through_an_hr_company() -> None:
    """Seed 004: living away from the hukou place, through a local HR company."""
    scenario = CompareScenario.load()
    person = near_retirement(lives_in="310000")
    ways = ways_open(person, default_policy(), scenario, [Decimal(60)], [10_000], [NOW])
    assert [(w.scheme, w.region, w.agency) for w in ways] == [
        ("resident", "110105", False),
        ("employee", "110000", False),
        ("employee", "310000", True),
    ]


@pytest.mark.parametrize(
    ("text", "field"),
    [("50", "bases"), ("60,301", "bases"), ("abc", "bases"), ("300:60:10", "bases")],
)
def test_a_base_outside_60_to_300_percent_names_bases(text: str, field: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_bases(text, CompareScenario.load())
    assert caught.value.field == field


def test_bases_by_step() -> None:
    assert parse_bases("60:100:20", CompareScenario.load()) == [
        Decimal(60),
        Decimal(80),
        Decimal(100),
    ]


def test_grades_and_starts_are_checked() -> None:
    with pytest.raises(BadInput, match="not a residents' grade"):
        parse_grades("250", default_policy(), NOW)
    with pytest.raises(BadInput) as caught:
        parse_starts("2026-01", NOW)
    assert caught.value.field == "start"


def test_a_person_past_retirement_is_refused_naming_the_id(plain: CompareScenario) -> None:
    with pytest.raises(BadInput) as caught:
        context(near_retirement(birth_date=date(1960, 1, 1)), default_policy(), plain, NOW)
    assert caught.value.field == "id" and "retirement age" in caught.value.rule


def test_a_scenario_override_without_source_is_marked_unverified(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[discount_rate]\nvalue = "0.04"\n', encoding="utf-8")
    scenario = CompareScenario.load(path)
    assert scenario.discount_rate.value == Decimal("0.04")
    assert scenario.discount_rate.status == "unverified"
    assert scenario.discount_rate.source == str(path)
    assert scenario.wage_growth == CompareScenario.load().wage_growth


@pytest.mark.parametrize(
    "body",
    ["[discount_rate]\nvalue = 0.04\n", "[nonsense]\nvalue = 1\n", "not toml ="],
)
def test_a_bad_scenario_names_the_scenario(tmp_path: Path, body: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        CompareScenario.load(path)
    assert caught.value.field == "scenario"


def test_the_plots_legend_matches_its_lines() -> None:
    """One legend entry per line drawn, with that line's colour, style and marker."""
    import matplotlib.pyplot as plt

    from ledger.compare.plot import figure

    scenario = CompareScenario.load()
    person = near_retirement(
        birth_date=date(1985, 3, 12), lives_in="310000", paid_months=60, balance_fen=None
    )
    result = compare(
        person,
        default_policy(),
        scenario,
        NOW,
        bases=[Decimal(60), Decimal(300)],
        grades=[10_000, 200_000],
        starts=[NOW],
        by="irr",
    )
    fig = figure(result)
    try:
        ax = fig.axes[0]
        lines = ax.get_lines()
        legend = ax.get_legend()
        texts = [t.get_text() for t in legend.get_texts()]
        routes = list(dict.fromkeys(o.way.route for o in result.outcomes))
        assert [line.get_label() for line in lines] == routes == texts[: len(lines)]
        for line, handle in zip(lines, legend.legend_handles, strict=False):
            assert handle.get_color() == line.get_color()
            assert handle.get_linestyle() == line.get_linestyle()
            assert handle.get_marker() == line.get_marker()
        assert texts[-1].startswith("best by irr: ")
        assert {line.get_linestyle() for line in lines} == {":", "-"}  # resident dotted
    finally:
        plt.close(fig)


def test_pension_increases_are_read_from_the_dated_policy_then_the_scenario(
    plain: CompareScenario,
) -> None:
    """national.toml pension.increase: 2023 3.8%, 2024 3%, 2025 2% (each unverified); the
    years after the last dated one at the scenario's pension_increase (here 0)."""
    from ledger.compare.projection import risen, yearly_rises

    ctx = context(near_retirement(), default_policy(), plain, NOW)
    rises = yearly_rises(ctx.policy, 2023, 2027)
    assert rises == {
        2023: Fraction(1038, 1000),
        2024: Fraction(103, 100),
        2025: Fraction(102, 100),
        2026: 1,
        2027: 1,
    }
    # 100.00 of 2022: × 1.038 × 1.03 × 1.02 = 109.05 (109.051…)
    assert risen(10_000, ctx.policy, 2022, 2030) == 10_905
