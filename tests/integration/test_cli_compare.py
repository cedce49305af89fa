"""``flexledger compare`` as a user runs it: a table, ``--json``, ``--plot``; each bad input
one line naming the field, exit 2; ``--member`` starting from the ledger's history on
SQLite and PostgreSQL, writing nothing."""

from __future__ import annotations

import json

import pytest

from ledger.cli import main
from ledger.cli.context import settings
from ledger.store.tables import accounts, entries, members
from tests.rows import row_counts

PERSON = "110105198503120039"  # born 1985-03-12, male, hukou Beijing (Dongcheng)
TYPICAL = [
    "compare",
    "--id",
    PERSON,
    "--lives-in",
    "310000",
    "--paid-months",
    "60",
    "--as-of",
    "2026-12",
    "--bases",
    "60,100,300",
    "--grades",
    "100,2000",
]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_lists_every_way_the_best_and_the_assumptions(capsys):
    code, out, err = run(capsys, *TYPICAL)
    assert code == 0, err
    assert "retires 2048-03 at 63y0m" in out
    for way in ("resident 100/yr", "resident 2000/yr", "employee 60%", "employee 300%"):
        assert way in out
    assert "310000 via HR company" in out and "110000 hukou" in out
    assert "best by irr: #" in out
    for assumption in ("wage_growth", "discount_rate", "pension_increase", "life_table"):
        assert assumption in out
    assert "unverified" in out and "derived" in out


def test_json_gives_every_way_with_its_figures_and_the_assumptions(capsys):
    code, out, _ = run(capsys, *TYPICAL, "--json", "--by", "pension")
    assert code == 0
    data = json.loads(out)
    assert data["person"]["retirement_month"] == "2048-03"
    assert len(data["ways"]) == 2 + 3 + 3  # two grades; three bases at home and through a company
    best = data["ways"][data["best"] - 1]
    assert best["base_percent"] == "300" and best["agency"] is True  # the highest pension
    for way in data["ways"]:
        assert {
            "paid",
            "paid_discounted",
            "pension",
            "payback_age",
            "irr",
            "expected_net",
            "replacement_rate",
        } <= set(way)
    agency = [w for w in data["ways"] if w["agency"]]
    assert all(w["fees"] == f"{255 * 200}.00" for w in agency)  # 255 months × 200 (§9)
    assert {a["name"] for a in data["assumptions"]} >= {"wage_growth", "life_table"}
    assert all(a["source"] and a["status"] for a in data["assumptions"])


def test_plot_writes_a_png(capsys, tmp_path):
    path = tmp_path / "ways.png"
    code, out, _ = run(capsys, *TYPICAL, "--plot", str(path))
    assert code == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {path}" in out


def test_a_scenario_file_overrides_an_assumption_and_says_so(capsys, tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text('[discount_rate]\nvalue = "0.05"\n', encoding="utf-8")
    _, plain, _ = run(capsys, *TYPICAL, "--json")
    code, out, _ = run(capsys, *TYPICAL, "--json", "--scenario", str(scenario))
    assert code == 0
    data, before = json.loads(out), json.loads(plain)
    rate = next(a for a in data["assumptions"] if a["name"] == "discount_rate")
    assert rate["value"] == "0.05" and rate["source"] == str(scenario)
    assert data["ways"][3]["paid"] == before["ways"][3]["paid"]
    assert data["ways"][3]["paid_discounted"] != before["ways"][3]["paid_discounted"]


def test_a_district_lives_in_its_citys_scheme(capsys):
    """Xuhui (310104) insures at Shanghai's scheme (310000): the ways are Shanghai's."""
    code, out, _ = run(capsys, *TYPICAL[:4], "310104", *TYPICAL[5:], "--json")
    assert code == 0
    assert json.loads(out)["person"]["lives_in"] == "310000"


def test_a_later_start_is_another_way(capsys):
    code, out, _ = run(capsys, *TYPICAL, "--start", "2026-12,2031-01", "--json")
    assert code == 0
    starts = {w["start"] for w in json.loads(out)["ways"]}
    assert starts == {"2026-12", "2031-01"}


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--id", "110105198503120038"], "id"),  # check character
        (["--id", "110105195001010013"], "id"),  # retired in 2010
        (["--id", PERSON, "--lives-in", "510000"], "lives_in"),  # Sichuan: no scheme here
        (["--id", PERSON, "--lives-in", "999999"], "lives_in"),  # not a region code
        (["--id", PERSON, "--bases", "50"], "bases"),
        (["--id", PERSON, "--bases", "60,400"], "bases"),
        (["--id", PERSON, "--grades", "250"], "grades"),
        (["--id", PERSON, "--start", "2020-01"], "start"),
        (["--id", PERSON, "--start", "2049-01"], "start"),  # after retirement
        (["--id", PERSON, "--paid-months", "-3"], "paid_months"),
        (["--id", PERSON, "--paid-months", "500"], "paid_months"),  # more than since 16
        (["--id", PERSON, "--balance", "12.345"], "balance"),
        (["--id", PERSON, "--plot", "out.jpg"], "plot"),
        (["--id", PERSON, "--scenario", "/nonexistent/s.toml"], "scenario"),
        (["--id", PERSON, "--as-of", "2026-13"], "as_of"),
        ([], "id"),
    ],
)
def test_bad_input_is_one_line_naming_the_field_exit_2(capsys, args, field):
    code, out, err = run(capsys, "compare", "--as-of", "2026-12", *args)
    assert code == 2
    assert err.startswith(f"error: {field}: "), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert out == ""


def test_an_unknown_by_is_refused_exit_2(capsys):
    code, _, err = run(capsys, *TYPICAL, "--by", "cheapest")
    assert code == 2 and "--by" in err and "Traceback" not in err


# ---------------------------------------------------------------- --member, on both backends


@pytest.fixture
def env(monkeypatch, empty_database, engine):
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    monkeypatch.delenv("FLEXLEDGER_REDIS_URL", raising=False)
    settings.cache_clear()
    yield monkeypatch
    settings.cache_clear()


def paid_year(capsys) -> None:
    """The person pays 2025-07 to 2026-06 at 100% in Beijing, each half-year in its year."""
    for args in (
        ["member", "add", "--id", PERSON, "--region", "110000"],
        [
            "enroll",
            "--member",
            PERSON,
            "--scheme",
            "pension",
            "--region",
            "110000",
            "--base-percent",
            "100",
            "--from",
            "2025-07",
        ],
        [
            "contribute",
            "--member",
            PERSON,
            "--scheme",
            "pension",
            "--from",
            "2025-07",
            "--to",
            "2025-12",
            "--paid-on",
            "2025-12-20",
        ],
        [
            "contribute",
            "--member",
            PERSON,
            "--scheme",
            "pension",
            "--from",
            "2026-01",
            "--to",
            "2026-06",
            "--paid-on",
            "2026-06-20",
        ],
    ):
        code, _, err = run(capsys, *args)
        assert code == 0, err


def test_member_starts_from_the_ledger_history_and_writes_nothing(env, engine, capsys):
    """12 months at 100% of Beijing's 2025 average wage, 11,937: each index 11,937 ÷ 11,937
    = 1 (DOMAIN.md §6), and 12 × 8% × 11,937 = 12 × 954.96 = 11,459.52 in the account
    (DOMAIN.md §2). Paying on at 100% keeps the mean index at exactly 1."""
    paid_year(capsys)
    before = row_counts(engine, members, entries, accounts)
    code, out, err = run(
        capsys,
        "compare",
        "--member",
        PERSON,
        "--as-of",
        "2026-12",
        "--bases",
        "100",
        "--grades",
        "none",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["person"]["paid_months"] == 12
    (way,) = data["ways"]
    assert way["months_counted"] == 12 + way["months_paid"] == 12 + 255
    assert way["average_index"] == "1.000000"
    assert not any("assumed" in note for note in way["notes"])
    # The same person by --id with the same months and balance, but no history: index 0.60.
    code, out, _ = run(
        capsys,
        "compare",
        "--id",
        PERSON,
        "--as-of",
        "2026-12",
        "--bases",
        "100",
        "--grades",
        "none",
        "--paid-months",
        "12",
        "--balance",
        "11459.52",
        "--json",
    )
    by_id = json.loads(out)["ways"][0]
    assert by_id["balance_at_award"] == way["balance_at_award"]
    assert float(by_id["average_index"]) < 1
    assert row_counts(engine, members, entries, accounts) == before


def test_an_unknown_member_is_exit_2(env, capsys):
    code, _, err = run(capsys, "compare", "--member", PERSON, "--as-of", "2026-12")
    assert code == 2 and err.startswith("error: member: ") and "Traceback" not in err
