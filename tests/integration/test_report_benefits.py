"""The report's benefit tables, on SQLite and PostgreSQL: contributors per pensioner by
region and year, and what a base bought (pensions awarded per yuan paid).

Given the ledger of tests/integration/test_pensions.py — a man paying Beijing's pension at
a base of 8,000.00 for 2010-08..2025-07, awarded 2,619.80 a month from 2025-09 (that
file's first test, by hand from DOMAIN.md §6), and a second man paying 2016-07..2025-06,
short of the minimum — when the pensions of 2025-09..2025-12 are paid and the report is
gathered, then the tables hold the figures below, each counted by hand.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from ledger.domain.period import Month
from ledger.report.figures import (
    BaseValue,
    SupportRatio,
    cost_effectiveness,
    gather,
    support_ratios,
    value_rows,
)
from tests.integration.test_pensions import MEMBER, SHORT, pay, retire
from tests.integration.test_pensions import ledger as ledger
from tests.integration.test_pensions import short as short


def test_contributors_per_pensioner_by_region_and_year(short):
    """2025 in Beijing: two members paid months of 2025 (MEMBER to July, SHORT to June),
    one was paid pensions (MEMBER, 2025-09..12): 2 per pensioner. 2024: two contributors,
    no pensioner (no ratio). 2010: MEMBER alone (2010-08..12)."""
    retire(short)
    for month in range(9, 13):
        pay(short, Month(2025, month))
    with short.engine.connect() as conn:
        found = {(s.region, s.year): s for s in support_ratios(conn)}
    assert found[("110000", 2025)] == SupportRatio("110000", 2025, 2, 1)
    assert found[("110000", 2025)].ratio == 2
    assert found[("110000", 2024)] == SupportRatio("110000", 2024, 2, 0)
    assert found[("110000", 2024)].ratio is None
    assert found[("110000", 2010)] == SupportRatio("110000", 2010, 1, 0)
    assert sorted(found)[0] == ("110000", 2010) and sorted(found)[-1] == ("110000", 2025)


def test_what_each_base_bought_counts_only_awarded_members(short):
    """Only MEMBER is awarded; he chose a fixed base of 8,000.00 (no percent): paid 180 ×
    20% × 8,000.00 = 288,000.00 (personal 8% + pooling 12%, 国发〔2005〕38号), awarded
    2,619.80 a month: 2,619.80 ÷ 288,000.00 = 0.0090965… per yuan, 90.97 a month per
    10,000.00 paid. SHORT (108 months, no award) is not counted."""
    award = retire(short)
    assert award.total_fen == 261980
    with short.engine.connect() as conn:
        found = cost_effectiveness(conn)
        figures = gather(conn, short.policy, date(2025, 12, 31), MEMBER)
    assert found == [BaseValue("fixed amount", 1, 28_800_000, 261_980)]
    assert found[0].per_yuan == Fraction(261_980, 28_800_000)
    assert value_rows(figures) == [
        {
            "base": "fixed amount",
            "members": 1,
            "paid": "288000.00",
            "monthly_pension": "2619.80",
            "pension_per_10000_paid": "90.97",
        }
    ]
    assert SHORT not in {v.base for v in found}


def test_report_prints_both_tables_and_gives_them_in_json(tmp_path, monkeypatch, capsys):
    """A small simulated ledger: ``report`` prints both tables; ``--json`` gives them as
    ``contributors_per_pensioner`` and ``cost_effectiveness``, and index.html holds them."""
    import json

    from ledger.cli import main
    from ledger.cli.context import settings

    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    settings.cache_clear()
    assert main(["simulate", "--members", "6", "--years", "1", "--seed", "3"]) == 0
    capsys.readouterr()
    assert main(["report", "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "contributors per pensioner" in printed and "What each base bought" in printed
    assert main(["report", "--out", str(tmp_path / "r"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = data["contributors_per_pensioner"]
    assert rows and all(r["pensioners"] == 0 and r["ratio"] is None for r in rows)
    assert all(r["contributors"] > 0 for r in rows)
    assert data["cost_effectiveness"] == []  # a one-year simulation awards no pension
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "contributors per pensioner by region and year" in page
    assert "pensions awarded per yuan paid" in page
    settings.cache_clear()
