"""The policy loader: two time axes, variants, overrides, and refusals that name file and key."""

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.domain.errors import NoPolicyInForce, PolicyFileError, UnknownRegion
from ledger.domain.policy import load_policy
from ledger.domain.policy.loader import DATA_DIR
from ledger.domain.policy.records import (
    Divisor,
    InterestMethod,
    InterestRate,
    PensionBase,
    PensionRate,
)

REGION = """
[region]
code = "990100"
name = "Testville"
name_zh = "测试市"
province = "990000"
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    shutil.copy(DATA_DIR / "national.toml", tmp_path / "national.toml")
    return tmp_path


def write_region(directory: Path, body: str) -> Path:
    path = directory / "990100.toml"
    path.write_text(REGION + body, encoding="utf-8")
    return path


BASES = """
[[pension.base]]
effective = 2024-07-01
floor_yuan = "6000"
ceiling_yuan = "30000"
source = "test notice 2024"

[[pension.base]]
effective = 2025-07-01
published = 2025-09-18
floor_yuan = "7000"
ceiling_yuan = "35000"
source = "test notice 2025, published late"
"""


def test_a_late_announcement_is_unknown_before_its_publication(policy_dir):
    write_region(policy_dir, BASES)
    policy = load_policy(policy_dir)
    before = policy.at(PensionBase, date(2025, 8, 1), "990100", known_at=date(2025, 9, 17))
    after = policy.at(PensionBase, date(2025, 8, 1), "990100", known_at=date(2025, 9, 18))
    now = policy.at(PensionBase, date(2025, 8, 1), "990100")
    assert before.floor_fen == 600000
    assert after.floor_fen == now.floor_fen == 700000


def test_known_at_accepts_a_datetime(policy_dir):
    write_region(policy_dir, BASES)
    policy = load_policy(policy_dir)
    at = datetime(2025, 9, 18, 9, 0, tzinfo=UTC)
    assert policy.at(PensionBase, date(2025, 8, 1), "990100", known_at=at).floor_fen == 700000


def test_no_figure_before_the_first_record_is_an_error_naming_the_path(policy_dir):
    write_region(policy_dir, BASES)
    with pytest.raises(NoPolicyInForce) as caught:
        load_policy(policy_dir).at(PensionBase, date(2020, 1, 1), "990100")
    assert caught.value.field == "pension.base"


def test_a_region_without_its_own_rate_uses_the_national_one(policy_dir):
    write_region(policy_dir, BASES)
    rate = load_policy(policy_dir).at(PensionRate, date(2025, 8, 1), "990100")
    assert (rate.total_rate, rate.personal_rate) == (Decimal("0.20"), Decimal("0.08"))


def test_a_later_publication_supersedes_a_provisional_rate(policy_dir):
    national = policy_dir / "national.toml"
    national.write_text(
        national.read_text(encoding="utf-8")
        + """
[[interest.rate]]
year = 2025
effective = 2025-01-01
published = 2026-06-20
rate = "0.0180"
source = "test: official 2025 rate"
""",
        encoding="utf-8",
    )
    policy = load_policy(policy_dir)
    provisional = policy.at(InterestRate, date(2025, 1, 1), known_at=date(2026, 6, 19))
    official = policy.at(InterestRate, date(2025, 1, 1))
    assert (provisional.status, provisional.rate) == ("provisional", Decimal("0.015"))
    assert (official.status, official.rate) == ("official", Decimal("0.0180"))


def test_a_variant_is_reachable_but_not_the_default():
    from ledger.domain.policy import default_policy

    policy = default_policy()
    assert policy.at(InterestMethod, date(2025, 1, 1)).method == "months-held"
    chosen = policy.at(InterestMethod, date(2025, 1, 1), variant="national-1997")
    assert chosen.method == "half-year-1.083"
    assert (
        policy.at(Divisor, date(2025, 1, 1), variant="no-such-variant").interpolate_months is False
    )


def test_an_unknown_region_is_refused_naming_the_known_ones(policy_dir):
    write_region(policy_dir, BASES)
    with pytest.raises(UnknownRegion) as caught:
        load_policy(policy_dir).region("123456")
    assert "990100" in caught.value.rule


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        (
            '[[pension.base]]\neffective = 2025-07-01\nfloor_yuan = "9000"\n'
            'ceiling_yuan = "8000"\nsource = "x notice"\n',
            "pension.base[0]",
            "above ceiling",
        ),
        (
            "[[pension.base]]\neffective = 2025-07-01\nfloor_yuan = 7000.5\n"
            'ceiling_yuan = "8000"\nsource = "x notice"\n',
            "pension.base[0]",
            "floats",
        ),
        (
            '[[pension.rate]]\neffective = 2025-07-01\ntotal_rate = "0.20"\n'
            'personal_rate = "0.30"\nsource = "x notice"\n',
            "pension.rate[0]",
            "exceeds total_rate",
        ),
        (
            '[[pension.base]]\neffective = 2025-07-01\nfloor_yuan = "7000"\n'
            'ceiling_yuan = "8000"\nsource = "x notice"\nstatus = "derived"\n',
            "pension.base[0]",
            "note",
        ),
        (
            '[[pension.bases]]\neffective = 2025-07-01\nsource = "x notice"\n',
            "pension.bases",
            "no such policy parameter",
        ),
        (
            '[[pension.base]]\neffective = 2025-07-01\nfloor_yuan = "7000"\n'
            'ceiling_yuan = "8000"\nsource = "x notice"\ncolour = "red"\n',
            "pension.base[0].colour",
            "Extra inputs",
        ),
        (
            BASES + '\n[[pension.base]]\neffective = 2024-07-01\nfloor_yuan = "6100"\n'
            'ceiling_yuan = "30000"\nsource = "another notice"\n',
            "pension.base[2]",
            "contradicts pension.base[0]",
        ),
        (
            '[[interest.rate]]\nyear = 2025\neffective = 2025-01-01\nrate = "0.01"\n'
            'source = "x notice"\n',
            "interest.rate",
            "national files only",
        ),
        ("[[pension.base]\n", "(syntax)", ""),
    ],
)
def test_a_malformed_policy_file_fails_at_load_naming_file_key_and_problem(
    policy_dir, body, key, problem
):
    path = write_region(policy_dir, body)
    with pytest.raises(PolicyFileError) as caught:
        load_policy(policy_dir)
    assert caught.value.path == str(path)
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_the_file_name_must_match_the_region_code(policy_dir):
    (policy_dir / "990200.toml").write_text(REGION, encoding="utf-8")
    with pytest.raises(PolicyFileError) as caught:
        load_policy(policy_dir)
    assert caught.value.key == "region.code"


def test_the_shipped_policy_files_load():
    from ledger.domain.policy import default_policy

    policy = default_policy()
    assert {"110000"} <= set(policy.regions)


def test_answers_from_the_memo_are_the_records_a_fresh_search_finds(monkeypatch):
    """``PolicySet.at`` remembers its answers: for every shipped region and kind, over the
    months of 2015-2026 and several publication dates, asking twice (the second answer
    from the memo) gives what the search itself gives; refusals are never remembered;
    the memo empties when full."""
    from itertools import product

    from ledger.domain.policy.records import BackPayment, MedicalContribution

    policy = load_policy()
    monkeypatch.setattr(type(policy), "MEMO_SIZE", 500)
    kinds = (PensionBase, PensionRate, MedicalContribution, BackPayment)
    days = [date(y, m, 1) for y in range(2015, 2027) for m in (1, 4, 7, 10)]
    known = (None, date(2020, 6, 30), datetime(2025, 7, 1, 12, tzinfo=UTC))
    asked = 0
    for region, kind, on, at in product(sorted(policy.regions), kinds, days, known):
        plain = at.date() if isinstance(at, datetime) else at
        try:
            expected = policy._at(kind, on, region, plain, None)
        except NoPolicyInForce:
            for _ in range(2):
                with pytest.raises(NoPolicyInForce):
                    policy.at(kind, on, region, at)
            continue
        assert policy.at(kind, on, region, at) is expected
        assert policy.at(kind, on, region, at) is expected
        asked += 1
        assert len(policy._memo) <= 500
    assert asked > 500  # the memo was emptied on the way
